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

    /// The 16 bytes, big-endian, into `buffer` (16 bytes long).
    func store(into buffer: UnsafeMutableRawBufferPointer) {
        for i in 0..<8 {
            buffer[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i)))
            buffer[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i)))
        }
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

/// The fields `action` and `run` share, in the engine's terms (a uuid of two
/// words, a timeout in nanoseconds).
struct JobRequest {
    let uuid: ActionUUID
    let oid: OID
    /// Relative timeout in nanoseconds; nil when none was given (or 0).
    let timeout: UInt64?
    let priority: UInt8
    let params: MsgPackMap?

    static let defaultPriority: UInt8 = ActionRequest.defaultPriority

    /// From the SDK's reading of the payload (`ActionRequest`, which gives
    /// the shipped controller's codes: no payload → INVALID_PARAMS, a payload
    /// that does not decode → INVALID_DATA, `params` without `value` →
    /// METHOD_NOT_IMPLEMENTED).
    init(_ request: ActionRequest) {
        uuid = ActionUUID(bytes: request.uuid)!
        oid = request.oid
        timeout = request.timeout.flatMap { $0 > UInt64.max / 2_000 ? nil : $0 * 1_000 }
        priority = request.priority
        params = request.params
    }

    /// A timeout in microseconds as nanoseconds; 0 or too large: none.
    private static func nanoseconds(microseconds v: Int64) -> UInt64? {
        v == 0 ? nil : UInt64(v) > UInt64.max / 2_000 ? nil : UInt64(v) * 1_000
    }

    /// The action's value (`params.value`; nil for a run).
    var value: MsgPackValue { params?["value"] ?? .nil }
}

extension JobRequest {
    private static let keys = FieldKeys("uuid", "i", "timeout", "priority", "params")

    /// Reads the usual payload straight from its bytes (see `MapFields`):
    /// `uuid` a 16-byte bin, `i` an ASCII OID, `timeout` and `priority`
    /// absent, nil or in range, `params` a map (with a `value` for an
    /// action). Anything else (valid or not) gives nil, for the general
    /// path (the SDK's `ActionRequest`), which reads every payload this one
    /// reads the same way. Kept because it is the `action` bench's hot path:
    /// `ActionRequest` decodes the whole payload into a `MsgPackValue` tree
    /// (an array per map, a String per key, an array for the uuid), where
    /// this reads the fields in place and decodes only `params`.
    init?(fast payload: UnsafeRawBufferPointer, isAction: Bool) {
        guard let found = MapFields(payload, Self.keys) else { return nil }
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
        if let t = found[2], !MapFields.isNil(t) {
            guard let v = MapFields.int(t), v >= 0 else { return nil }
            timeout = Self.nanoseconds(microseconds: v)
        }
        var priority = Self.defaultPriority
        if let pr = found[3], !MapFields.isNil(pr) {
            guard let v = MapFields.int(pr), let u8 = UInt8(exactly: v) else { return nil }
            priority = u8
        }
        var params: MsgPackMap?
        if let pm = found[4] {
            guard pm[0] >= 0x80 && pm[0] <= 0x8F || pm[0] == 0xDE || pm[0] == 0xDF,
                  case .map(let m)? = try? MsgPackValue(decodingValid: pm)
            else { return nil }
            params = m
        }
        if isAction, params?["value"] == nil { return nil }
        self.uuid = ActionUUID(hi: hi, lo: lo)
        self.oid = oid
        self.timeout = timeout
        self.priority = priority
        self.params = params
    }
}

/// `terminate`: `{u}` or `{uuid}`.
func parseTerminate(_ payload: MsgPackValue?) throws(EAPIError) -> ActionUUID {
    guard let payload else { throw .invalidParams("terminate: params required") }
    guard case .map(let m) = payload else { throw .invalidData("terminate: params must be a map") }
    guard let raw = m["u"] ?? m["uuid"] else { throw .invalidData("terminate: u is required") }
    guard let uuid = ActionUUID(raw) else { throw .invalidData("terminate: u must be a 16-byte uuid") }
    return uuid
}

/// `kill`: `{i}`.
func parseKill(_ payload: MsgPackValue?) throws(EAPIError) -> OID {
    guard let payload else { throw .invalidParams("kill: params required") }
    guard case .map(let m) = payload else { throw .invalidData("kill: params must be a map") }
    guard let raw = m["i"] else { throw .invalidData("kill: i is required") }
    guard let s = raw.stringValue, let oid = OID(s) else { throw .invalidData("kill: i must be an OID") }
    return oid
}
