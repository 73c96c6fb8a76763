import EAPI

/// The RPC methods, recognised from their raw bytes (any bytes may come).
enum Method: CaseIterable {
    case get, set, list
    case varGet, varSet, varSetBulk, varDestroy, varList
    case action, run, terminate, kill
    case test, info, stop

    var name: String {
        switch self {
        case .get: "get"
        case .set: "set"
        case .list: "list"
        case .varGet: "var.get"
        case .varSet: "var.set"
        case .varSetBulk: "var.set_bulk"
        case .varDestroy: "var.destroy"
        case .varList: "var.list"
        case .action: "action"
        case .run: "run"
        case .terminate: "terminate"
        case .kill: "kill"
        case .test: "test"
        case .info: "info"
        case .stop: "stop"
        }
    }

    /// Methods that only read state (answered while stopping too).
    var isRead: Bool {
        switch self {
        case .get, .list, .varGet, .varList: true
        default: false
        }
    }

    /// By length, then bytes (names of up to 8 bytes as one number): no
    /// table, no String, no allocation.
    init?(bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        let found: Method?
        if n <= 8 {
            var word: UInt64 = 0
            for i in 0..<n { word = word << 8 | UInt64(bytes[i]) }
            switch (n, word) {
            case (3, 0x676574): found = .get  // "get"
            case (3, 0x736574): found = .set  // "set"
            case (3, 0x72756E): found = .run  // "run"
            case (4, 0x6C697374): found = .list  // "list"
            case (4, 0x74657374): found = .test  // "test"
            case (4, 0x696E666F): found = .info  // "info"
            case (4, 0x73746F70): found = .stop  // "stop"
            case (4, 0x6B696C6C): found = .kill  // "kill"
            case (6, 0x616374696F6E): found = .action  // "action"
            case (7, 0x7661722E676574): found = .varGet  // "var.get"
            case (7, 0x7661722E736574): found = .varSet  // "var.set"
            case (8, 0x7661722E6C697374): found = .varList  // "var.list"
            default: found = nil
            }
        } else {
            func eq(_ name: StaticString) -> Bool {
                MsgPackScanner.equal(bytes, UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            }
            switch n {
            case 9: found = eq("terminate") ? .terminate : nil
            case 11: found = eq("var.destroy") ? .varDestroy : nil
            case 12: found = eq("var.set_bulk") ? .varSetBulk : nil
            default: found = nil
            }
        }
        guard let found else { return nil }
        self = found
    }
}

/// Reading method params.
enum Params {
    /// The payload as a map; no payload, not MessagePack or not a map →
    /// INVALID_PARAMS.
    static func map(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) -> MsgPackMap {
        guard let payload, payload.count > 0 else { throw .invalidParams("params required") }
        guard case .map(let map) = try decode(payload) else {
            throw .invalidParams("params must be a map")
        }
        return map
    }

    /// The payload decoded, nil when there is none.
    static func value(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) -> MsgPackValue? {
        guard let payload, payload.count > 0 else { return nil }
        return try decode(payload)
    }

    /// Decodes one MessagePack value, checked first without allocating
    /// (see `MsgPackScanner.isWellFormed`).
    static func decode(_ payload: UnsafeRawBufferPointer) throws(EAPIError) -> MsgPackValue {
        guard MsgPackScanner.isWellFormed(payload) else { throw .invalidParams("payload is not MessagePack") }
        return try MsgPackValue(decoding: payload)
    }

    static func requiredString(_ map: MsgPackMap, _ key: String) throws(EAPIError) -> String {
        guard let v = map[key] else { throw .invalidParams("\(key) is required") }
        guard let s = v.stringValue else { throw .invalidParams("\(key) must be a string") }
        return s
    }

    static func oid(_ map: MsgPackMap, _ key: String) throws(EAPIError) -> OID {
        let text = try requiredString(map, key)
        guard let oid = OID(text) else { throw .invalidParams("invalid OID: \(text)") }
        return oid
    }

    /// The `i` str of a map payload, read without decoding the rest.
    static func fastString(_ payload: UnsafeRawBufferPointer?, key: StaticString) throws(EAPIError)
        -> UnsafeRawBufferPointer
    {
        guard let payload, payload.count > 0 else { throw .invalidParams("params required") }
        switch MsgPackScanner.stringField(payload, key: key) {
        case .string(let bytes): return bytes
        case .malformed: throw .invalidParams("payload is not MessagePack")
        case .notMap: throw .invalidParams("params must be a map")
        case .missing: throw .invalidParams("\(key) is required")
        case .notString: throw .invalidParams("\(key) must be a string")
        }
    }
}

extension ControllerCore {
    // MARK: Item methods

    /// `get {i}` → `{oid, status, value}`. The lookup runs on the payload's
    /// bytes and the reply is copied from the stored encoding: no decode,
    /// no String, no lock, no allocation once the reply buffer has grown.
    func get(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        let key = try Params.fastString(payload, key: "i")
        // No lock: see ItemStates.
        if states.withCell(key, hash: states.hash(key), { $0.read(into: reply) }) != nil { return }
        let text = String(decoding: key, as: UTF8.self)
        guard OID(text) != nil else { throw .invalidParams("invalid OID: \(text)") }
        throw .notFound("item \(text)")
    }

    /// `list` (no payload) → `[{oid, status, value}]` in OID order.
    func list(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        if let payload, payload.count > 0 { throw .invalidParams("list takes no params") }
        items.withLock { store in
            reply.packArrayHeader(store.order.count)
            for slot in store.order { store.write(Int(slot), to: reply) }
        }
    }

    /// `set {i, status?, value?}`. A payload in the canonical form (what
    /// any MessagePack packer writes, ASCII text) is read straight from
    /// its bytes and its value stored as it came; anything else is decoded
    /// and re-encoded, with the same outcome.
    func set(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) {
        if let payload, let fast = FastSet(payload) {
            try setItem(key: fast.key, status: fast.status, valueBytes: fast.value)
            return
        }
        let map = try Params.map(payload)
        let oid = try Params.oid(map, "i")
        var status: Int16?
        if let s = map["status"], !s.isNil {
            guard let v = s.int64Value, let v16 = Int16(exactly: v) else {
                throw .invalidParams("status must be an integer in the int16 range")
            }
            status = v16
        }
        // An item's value goes out inside `list` replies and bulk RAW frames
        // (two levels more), which libmsgpack peers read to 32 levels only.
        if let value = map["value"], value.nestingDepth > VarStore.maxNestingDepth {
            throw .invalidParams("value would nest deeper than \(VarStore.maxNestingDepth) levels")
        }
        try setItem(oid, status: status, value: map["value"])
    }

    // MARK: Variable methods

    /// `var.get {i: tag}` → the value.
    func varGet(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        let tag = try PLCTag(parsing: try Params.fastString(payload, key: "i"))
        let value = try vars.withLock { store throws(EAPIError) in try store.get(tag) }
        reply.pack(value)
    }

    /// `var.set {i: tag, value}`
    func varSet(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) {
        // The usual payload read from its bytes; the rest as below.
        if let payload, let fields = MapFields(payload, Self.iKey, Self.valueKey),
           let i = fields.first.flatMap(MapFields.str), OIDBytes.isASCII(i),
           let valueBytes = fields.second, let value = try? MsgPackValue(decodingValid: valueBytes) {
            try setVariable(try PLCTag(parsing: i), value)
            return
        }
        let map = try Params.map(payload)
        let tag = try PLCTag(parsing: try Params.requiredString(map, "i"))
        guard let value = map["value"] else { throw .invalidParams("value is required") }
        try setVariable(tag, value)
    }

    /// `var.set_bulk {i: [tags], values: [values]}` → `{failed: [tags]}`
    /// when some failed, else `{}`. All writes happen under one lock, so
    /// readers (and the pull cycle) see all of them or none.
    func varSetBulk(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        let map = try Params.map(payload)
        guard case .array(let names)? = map["i"] else { throw .invalidParams("i must be a list of tags") }
        guard case .array(let values)? = map["values"] else { throw .invalidParams("values must be a list") }
        guard names.count == values.count else {
            throw .invalidParams("i has \(names.count) tags, values has \(values.count)")
        }
        var texts: [String] = []
        texts.reserveCapacity(names.count)
        for name in names {
            guard let text = name.stringValue else { throw .invalidParams("i must be a list of tag strings") }
            texts.append(text)
        }
        let failed: [String] = vars.withLock { store in
            var failed: [String] = []
            for (text, value) in zip(texts, values) {
                guard let tag = PLCTag.parse(text) else {
                    failed.append(text)
                    continue
                }
                do { try store.set(tag, value) } catch { failed.append(text) }
            }
            return failed
        }
        if failed.isEmpty {
            reply.packMapHeader(0)
        } else {
            reply.pack(["failed": .array(failed.map { .string($0) })])
        }
    }

    /// `var.destroy {i: name}`
    func varDestroy(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) {
        let map = try Params.map(payload)
        let tag = try PLCTag(parsing: try Params.requiredString(map, "i"))
        guard case .whole = tag.selector else { throw .invalidParams("var.destroy takes a name, not \(tag)") }
        try vars.withLock { store throws(EAPIError) in try store.destroy(tag.name) }
    }

    /// `var.list` (no payload, or `{full?}`) → `[{id}]` or `[{id, value}]`
    /// in name order.
    func varList(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        var full = false
        if let payload, payload.count > 0 {
            let map = try Params.map(payload)
            if let f = map["full"], !f.isNil {
                guard let b = f.boolValue else { throw .invalidParams("full must be a bool") }
                full = b
            }
        }
        let snapshot = vars.withLock { $0.values }
        let names = snapshot.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        reply.packArrayHeader(names.count)
        for name in names {
            reply.packMapHeader(full ? 2 : 1)
            reply.packStringBytes(Keys.id)
            reply.packString(name)
            if full {
                reply.packStringBytes(Keys.value)
                reply.pack(snapshot[name]!)
            }
        }
    }
}

/// The fields of a `set` payload read from its bytes, when that gives the
/// same as decoding it: the payload `isCanonical`, a map whose first `i` is
/// a valid ASCII OID, whose first `status` is nil or an int16, and whose
/// first `value` (kept as its bytes) is any value. Any other payload, valid
/// or not, is left to the general path (`init` returns nil).
struct FastSet {
    let key: UnsafeRawBufferPointer
    let status: Int16?
    let value: UnsafeRawBufferPointer?

    init?(_ payload: UnsafeRawBufferPointer) {
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
        case 0xDF:
            guard let n = MsgPackScanner.bigEndian(payload, 1, 4) else { return nil }
            count = Int(n)
            p = 5
        default:
            return nil
        }
        var key: UnsafeRawBufferPointer?
        var status: Int16??
        var value: UnsafeRawBufferPointer?
        for _ in 0..<count {
            // The key: a fixstr here (anything else takes the general path).
            guard p < end else { return nil }
            let k = payload[p]
            guard k >= 0xA0, k <= 0xBF else { return nil }
            let keyCount = Int(k & 0x1F)
            guard end - p - 1 >= keyCount else { return nil }
            let name = Self.word(payload, p + 1, keyCount)
            p += 1 + keyCount
            // The value: each of i, status and value read its own way (the
            // first of each counts, as for a decoded map); anything else, or
            // a repeat, need only be canonical. All within the nesting limit.
            if keyCount == 1, name == 0x69, key == nil {  // "i"
                guard let s = Self.str(payload, p), OIDBytes.isValid(s.bytes) else { return nil }
                key = s.bytes
                p = s.end
            } else if keyCount == 6, name == 0x7374_6174_7573, status == nil {  // "status"
                guard p < end else { return nil }
                if payload[p] == 0xC0 {
                    status = .some(nil)
                    p += 1
                } else {
                    guard let v = Self.int(payload, p), let v16 = Int16(exactly: v.value) else { return nil }
                    status = .some(v16)
                    p = v.end
                }
            } else {
                guard let valueEnd = MsgPackScanner.canonicalEnd(payload, from: p, maxDepth: 7) else { return nil }
                if keyCount == 5, name == 0x76_616C_7565, value == nil {  // "value"
                    value = UnsafeRawBufferPointer(rebasing: payload[p..<valueEnd])
                }
                p = valueEnd
            }
        }
        guard p == end, let key else { return nil }
        self.key = key
        self.status = status ?? nil
        self.value = value
    }

    /// Up to 8 bytes at `at`, big-endian, as a number (to compare with a
    /// key's bytes written the same way); 0 for longer keys.
    @inline(__always)
    private static func word(_ b: UnsafeRawBufferPointer, _ at: Int, _ count: Int) -> UInt64 {
        guard count <= 8, count > 0 else { return 0 }
        if b.count - at >= 8 {
            // one load; keep the first `count` bytes
            let v = b.loadUnaligned(fromByteOffset: at, as: UInt64.self).bigEndian
            return v >> UInt64(64 - 8 * count)
        }
        var v: UInt64 = 0
        for i in 0..<count { v = v << 8 | UInt64(b[at + i]) }
        return v
    }

    /// A str at `at`, in any of its forms: its bytes and where it ends.
    private static func str(_ b: UnsafeRawBufferPointer, _ at: Int) -> (bytes: UnsafeRawBufferPointer, end: Int)? {
        guard at < b.count else { return nil }
        let t = b[at]
        let start: Int
        let n: Int
        switch t {
        case 0xA0...0xBF: (start, n) = (at + 1, Int(t & 0x1F))
        case 0xD9, 0xDA, 0xDB:
            let field = t == 0xD9 ? 1 : t == 0xDA ? 2 : 4
            guard let v = MsgPackScanner.bigEndian(b, at + 1, field) else { return nil }
            (start, n) = (at + 1 + field, Int(v))
        default: return nil
        }
        guard b.count - start >= n else { return nil }
        return (UnsafeRawBufferPointer(rebasing: b[start..<start + n]), start + n)
    }

    /// An integer at `at`, in any of its forms, that fits Int64; and where it ends.
    private static func int(_ b: UnsafeRawBufferPointer, _ at: Int) -> (value: Int64, end: Int)? {
        guard at < b.count else { return nil }
        let t = b[at]
        switch t {
        case 0x00...0x7F: return (Int64(t), at + 1)
        case 0xE0...0xFF: return (Int64(Int8(bitPattern: t)), at + 1)
        case 0xCC, 0xCD, 0xCE, 0xCF:
            let width = 1 << Int(t &- 0xCC)
            guard let v = MsgPackScanner.bigEndian(b, at + 1, width), v <= UInt64(Int64.max) else { return nil }
            return (Int64(v), at + 1 + width)
        case 0xD0, 0xD1, 0xD2, 0xD3:
            let width = 1 << Int(t &- 0xD0)
            guard let raw = MsgPackScanner.bigEndian(b, at + 1, width) else { return nil }
            let shift = UInt64(64 - 8 * width)
            return (Int64(bitPattern: raw << shift) >> Int64(shift), at + 1 + width)
        default: return nil
        }
    }
}

/// OID rules (see `OID`) on the bytes of an ASCII OID.
enum OIDBytes {
    static func isASCII(_ b: UnsafeRawBufferPointer) -> Bool {
        for i in 0..<b.count where b[i] >= 0x80 { return false }
        return true
    }

    /// Path bytes that need a look: controls, DEL, '#', '+', '/', ':' (and
    /// everything from 0x80, which ASCII input never has).
    private static let specialLow: UInt64 = 0xFFFF_FFFF | 1 << 0x23 | 1 << 0x2B | 1 << 0x2F | 1 << 0x3A
    private static let specialHigh: UInt64 = 1 << (0x7F - 64)

    static func isValid(_ b: UnsafeRawBufferPointer) -> Bool {
        var colon = 0
        while colon < b.count, b[colon] != UInt8(ascii: ":") { colon += 1 }
        guard colon < b.count, colon + 1 < b.count else { return false }
        // the kind, as big-endian bytes: unit, lvar, sensor, lmacro
        var kind: UInt64 = 0
        guard colon <= 6 else { return false }
        for i in 0..<colon { kind = kind << 8 | UInt64(b[i]) }
        guard kind == 0x75_6E_69_74 || kind == 0x6C_76_61_72 || kind == 0x73_65_6E_73_6F_72
            || kind == 0x6C_6D_61_63_72_6F
        else { return false }
        var previousSlash = true
        var i = colon + 1
        while i < b.count {
            let c = b[i]
            i += 1
            let special = c < 64 ? (specialLow >> UInt64(c)) & 1 != 0
                : c < 128 ? (specialHigh >> UInt64(c - 64)) & 1 != 0 : true
            if !special {
                previousSlash = false
            } else if c == UInt8(ascii: "/"), !previousSlash {
                previousSlash = true
            } else {
                return false  // '#', '+', ':', a control, DEL, or an empty segment
            }
        }
        return !previousSlash
    }
}

/// A map key of up to 8 ASCII bytes, as a number (big-endian) and a length.
struct ShortKey {
    let word: UInt64
    let count: Int

    init(_ s: StaticString) {
        precondition(s.utf8CodeUnitCount <= 8)
        var v: UInt64 = 0
        for i in 0..<s.utf8CodeUnitCount { v = v << 8 | UInt64(s.utf8Start[i]) }
        word = v
        count = s.utf8CodeUnitCount
    }
}

/// The first values of two keys of a map payload, found in its bytes, when
/// that is sure to give what decoding it would: the payload is one map whose
/// keys are all fixstrs and whose values are well-formed and nested no
/// deeper than libmsgpack surely decodes. Anything else (valid or not) gets
/// nil, and the caller takes its general path.
struct MapFields {
    /// The bytes of each key's first value, nil when the key is absent.
    let first: UnsafeRawBufferPointer?
    let second: UnsafeRawBufferPointer?

    init?(_ payload: UnsafeRawBufferPointer, _ k0: ShortKey, _ k1: ShortKey) {
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
        case 0xDF:
            guard let n = MsgPackScanner.bigEndian(payload, 1, 4), n <= UInt64(end) else { return nil }
            count = Int(n)
            p = 5
        default:
            return nil
        }
        var a: UnsafeRawBufferPointer?
        var b: UnsafeRawBufferPointer?
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
            let value = UnsafeRawBufferPointer(rebasing: payload[p..<valueEnd])
            if a == nil, keyCount == k0.count, name == k0.word {
                a = value
            } else if b == nil, keyCount == k1.count, name == k1.word {
                b = value
            }
            p = valueEnd
        }
        guard p == end else { return nil }
        first = a
        second = b
    }

    /// An integer that fills `b`, in any of its forms, that fits Int64.
    static func int(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard case .int(let v)? = MsgPackValue.scalarValue(b) else { return nil }
        return v
    }

    /// A str that fills `b`: its bytes.
    static func str(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard b.count > 0 else { return nil }
        let t = b[0]
        let field: Int
        switch t {
        case 0xA0...0xBF: field = 0
        case 0xD9: field = 1
        case 0xDA: field = 2
        case 0xDB: field = 4
        default: return nil
        }
        return UnsafeRawBufferPointer(rebasing: b[(1 + field)...])
    }
}
