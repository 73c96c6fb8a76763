import EAPI

/// A 16-byte action UUID, as two words for cheap hashing.
struct ActionUUID: Hashable, Sendable, CustomStringConvertible {
    let hi: UInt64
    let lo: UInt64

    init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    /// Exactly 16 bytes.
    init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
        hi = h
        lo = l
    }

    /// The canonical text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    init?(text: String) {
        var nibbles: [UInt8] = []
        nibbles.reserveCapacity(32)
        for (n, c) in text.utf8.enumerated() {
            if c == UInt8(ascii: "-") {
                guard n == 8 || n == 13 || n == 18 || n == 23 else { return nil }
                continue
            }
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibbles.append(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibbles.append(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibbles.append(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        guard nibbles.count == 32, text.utf8.count == 36 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { bytes[i] = nibbles[2 * i] << 4 | nibbles[2 * i + 1] }
        self.init(bytes: bytes)
    }

    /// A binary(16) or its canonical text form.
    init?(_ value: MsgPackValue) {
        switch value {
        case .binary(let b): self.init(bytes: b)
        case .string(let s): self.init(text: s)
        default: return nil
        }
    }

    static func random() -> ActionUUID {
        var g = SystemRandomNumberGenerator()
        // Version 4, variant 1.
        let h = (g.next() as UInt64) & ~0xF000 | 0x4000
        let l = (g.next() as UInt64) & ~(UInt64(0xC0) << 56) | (UInt64(0x80) << 56)
        return ActionUUID(hi: h, lo: l)
    }

    var bytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            b[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i)))
            b[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i)))
        }
        return b
    }

    var description: String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for (n, byte) in bytes.enumerated() {
            if n == 4 || n == 6 || n == 8 || n == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The fields `action` and `run` share.
struct JobRequest {
    let uuid: ActionUUID
    let oid: OID
    /// Relative timeout in nanoseconds; nil when none was given (or 0).
    let timeout: UInt64?
    let priority: UInt8
    let params: MsgPackMap?

    static let defaultPriority: UInt8 = 100

    /// Reads `{uuid, i, timeout?, priority?, params?, config?}`; `requireParams`
    /// for `action`, whose `params` is mandatory.
    init(_ payload: MsgPackValue?, method: String, requireParams: Bool) throws(EAPIError) {
        guard let payload, case .map(let m) = payload else { throw .invalidParams("\(method): params must be a map") }
        guard let rawUUID = m["uuid"] else { throw .invalidParams("\(method): uuid is required") }
        guard let uuid = ActionUUID(rawUUID) else { throw .invalidParams("\(method): uuid must be 16 bytes") }
        guard let rawI = m["i"] else { throw .invalidParams("\(method): i is required") }
        guard let s = rawI.stringValue, let oid = OID(s) else { throw .invalidParams("\(method): i must be an OID") }
        var timeout: UInt64?
        if let t = m["timeout"], !t.isNil {
            switch t {
            case .int(let v) where v >= 0:
                timeout = v == 0 ? nil : UInt64(v) > UInt64.max / 2_000 ? nil : UInt64(v) * 1_000
            case .uint:
                timeout = nil
            default:
                throw .invalidParams("\(method): timeout must be an unsigned integer (microseconds)")
            }
        }
        var priority = Self.defaultPriority
        if let p = m["priority"], !p.isNil {
            guard let v = p.int64Value, let u8 = UInt8(exactly: v) else {
                throw .invalidParams("\(method): priority must be an integer 0..255")
            }
            priority = u8
        }
        var params: MsgPackMap?
        switch m["params"] {
        case nil:
            if requireParams { throw .invalidParams("\(method): params is required") }
        case .nil?:
            if requireParams { throw .invalidParams("\(method): params must be a map") }
        case .map(let p)?:
            params = p
        case .some:
            throw .invalidParams("\(method): params must be a map")
        }
        self.uuid = uuid
        self.oid = oid
        self.timeout = timeout
        self.priority = priority
        self.params = params
    }
}

extension JobRequest {
    private static let keys: [ShortKey] = [ShortKey("uuid"), ShortKey("i"), ShortKey("timeout"),
                                            ShortKey("priority"), ShortKey("params")]

    /// Reads the usual payload straight from its bytes: a map with fixstr
    /// keys, `uuid` a 16-byte bin, `i` an ASCII OID, `timeout` and
    /// `priority` absent, nil or in range, `params` a map (or absent when
    /// not required). Anything else (valid or not) gives nil, for the
    /// general path, which reads every payload this one reads the same way.
    init?(fast payload: UnsafeRawBufferPointer, requireParams: Bool) {
        let end = payload.count
        guard end > 0 else { return nil }
        var p: Int
        let count: Int
        switch payload[0] {
        case 0x80...0x8F:
            count = Int(payload[0] & 0x0F)
            p = 1
        case 0xDE:
            guard let n = MsgPackScanner.bigEndian(payload, 1, 2) else { return nil }
            count = Int(n)
            p = 3
        default:
            return nil
        }
        var found: [UnsafeRawBufferPointer?] = [nil, nil, nil, nil, nil]
        for _ in 0..<count {
            guard p < end else { return nil }
            let k = payload[p]
            guard k >= 0xA0, k <= 0xBF else { return nil }
            let keyCount = Int(k & 0x1F)
            guard end - p - 1 >= keyCount else { return nil }
            var name: UInt64 = 0
            if keyCount <= 8 { for i in 0..<keyCount { name = name << 8 | UInt64(payload[p + 1 + i]) } }
            p += 1 + keyCount
            guard let valueEnd = MsgPackScanner.valueEnd(payload, from: p, maxDepth: 7) else { return nil }
            for (n, key) in Self.keys.enumerated() where found[n] == nil && key.count == keyCount && key.word == name {
                found[n] = UnsafeRawBufferPointer(rebasing: payload[p..<valueEnd])
                break
            }
            p = valueEnd
        }
        guard p == end else { return nil }
        // uuid: bin 8 of 16 bytes
        guard let u = found[0], u.count == 18, u[0] == 0xC4, u[1] == 16 else { return nil }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(u[2 + i]) }
        for i in 0..<8 { lo = lo << 8 | UInt64(u[10 + i]) }
        // i: an ASCII OID
        guard let iBytes = found[1].flatMap(MapFields.str), OIDBytes.isASCII(iBytes),
              let oid = OID(String(decoding: iBytes, as: UTF8.self))
        else { return nil }
        var timeout: UInt64?
        if let t = found[2], t[0] != 0xC0 {
            guard let v = MapFields.int(t), v >= 0 else { return nil }
            timeout = v == 0 ? nil : UInt64(v) > UInt64.max / 2_000 ? nil : UInt64(v) * 1_000
        }
        var priority = Self.defaultPriority
        if let pr = found[3], pr[0] != 0xC0 {
            guard let v = MapFields.int(pr), let u8 = UInt8(exactly: v) else { return nil }
            priority = u8
        }
        var params: MsgPackMap?
        if let pm = found[4] {
            guard pm[0] >= 0x80 && pm[0] <= 0x8F || pm[0] == 0xDE || pm[0] == 0xDF,
                  case .map(let m)? = try? MsgPackValue(decodingValid: pm)
            else { return nil }
            params = m
        } else if requireParams {
            return nil
        }
        self.uuid = ActionUUID(hi: hi, lo: lo)
        self.oid = oid
        self.timeout = timeout
        self.priority = priority
        self.params = params
    }
}

/// `terminate`: `{u}` or `{uuid}`.
func parseTerminate(_ payload: MsgPackValue?) throws(EAPIError) -> ActionUUID {
    guard let payload, case .map(let m) = payload else { throw .invalidParams("terminate: params must be a map") }
    guard let raw = m["u"] ?? m["uuid"] else { throw .invalidParams("terminate: u is required") }
    guard let uuid = ActionUUID(raw) else { throw .invalidParams("terminate: u must be a 16-byte uuid") }
    return uuid
}

/// `kill`: `{i}`.
func parseKill(_ payload: MsgPackValue?) throws(EAPIError) -> OID {
    guard let payload, case .map(let m) = payload else { throw .invalidParams("kill: params must be a map") }
    guard let raw = m["i"] else { throw .invalidParams("kill: i is required") }
    guard let s = raw.stringValue, let oid = OID(s) else { throw .invalidParams("kill: i must be an OID") }
    return oid
}
