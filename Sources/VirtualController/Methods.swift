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

/// Reading method params, with the codes the shipped controller gives:
/// no payload where one is needed → INVALID_PARAMS; a payload that does not
/// decode into what the method takes (not MessagePack, not a map, a field
/// missing or of the wrong type, a bad OID or tag) → INVALID_DATA.
enum Params {
    /// The payload as a map.
    static func map(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) -> MsgPackMap {
        guard let payload, payload.count > 0 else { throw .invalidParams("params required") }
        guard case .map(let map) = try decode(payload) else {
            throw .invalidData("params must be a map")
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
        guard MsgPackScanner.isWellFormed(payload) else { throw .invalidData("payload is not MessagePack") }
        return try MsgPackValue(decoding: payload)
    }

    static func requiredString(_ map: MsgPackMap, _ key: String) throws(EAPIError) -> String {
        guard let v = map[key] else { throw .invalidData("\(key) is required") }
        guard let s = v.stringValue else { throw .invalidData("\(key) must be a string") }
        return s
    }

    static func oid(_ map: MsgPackMap, _ key: String) throws(EAPIError) -> OID {
        let text = try requiredString(map, key)
        guard let oid = OID(text) else { throw .invalidData("invalid OID: \(text)") }
        return oid
    }

    /// Refuses a key other than `allowed` (the methods whose params the
    /// shipped controller decodes with unknown fields denied).
    static func onlyKeys(_ map: MsgPackMap, _ allowed: Set<String>) throws(EAPIError) {
        for entry in map.entries {
            guard case .string(let k) = entry.key, allowed.contains(k) else {
                throw .invalidData("unknown field \(ControllerConfig.describe(entry.key))")
            }
        }
    }

    /// The `i` str of a map payload, read without decoding the rest.
    static func fastString(_ payload: UnsafeRawBufferPointer?, key: StaticString) throws(EAPIError)
        -> UnsafeRawBufferPointer
    {
        guard let payload, payload.count > 0 else { throw .invalidParams("params required") }
        switch MsgPackScanner.stringField(payload, key: key) {
        case .string(let bytes): return bytes
        case .malformed: throw .invalidData("payload is not MessagePack")
        case .notMap: throw .invalidData("params must be a map")
        case .missing: throw .invalidData("\(key) is required")
        case .notString: throw .invalidData("\(key) must be a string")
        }
    }
}

extension ControllerCore {
    // MARK: Item methods

    /// `get {i}` → `{oid, status, value}` (other keys ignored, as the
    /// shipped controller does). The lookup runs on the payload's bytes and
    /// the reply is copied from the stored encoding: no decode, no String,
    /// no lock, no allocation once the reply buffer has grown.
    func get(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        let key = try Params.fastString(payload, key: "i")
        // No lock: see ItemStates.
        if states.withCell(key, hash: states.hash(key), { $0.read(into: reply) }) != nil { return }
        let text = String(decoding: key, as: UTF8.self)
        guard let oid = OID(text) else { throw .invalidData("invalid OID: \(text)") }
        // A kind alias (`S:a/b`): items are keyed by the full kind.
        if oid.description != text {
            var canonical = oid.description
            let found = canonical.withUTF8 { bytes in
                let k = UnsafeRawBufferPointer(bytes)
                return states.withCell(k, hash: states.hash(k), { $0.read(into: reply) }) != nil
            }
            if found { return }
        }
        throw .notFound("item \(oid)")
    }

    /// `list` (no payload) → `[{oid, status, value}]` in the core's OID
    /// order (kind, then `group/id`).
    func list(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        if let payload, payload.count > 0 { throw .invalidParams("list takes no params") }
        items.withLock { store in
            reply.packArrayHeader(store.order.count)
            for slot in store.order { store.write(Int(slot), to: reply) }
        }
    }

    private static let setKeys: Set<String> = ["i", "status", "value"]

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
        try Params.onlyKeys(map, Self.setKeys)
        let oid = try Params.oid(map, "i")
        var status: Int16?
        if let s = map["status"], !s.isNil {
            guard let v = s.int64Value, let v16 = Int16(exactly: v) else {
                throw .invalidData("status must be an integer in the int16 range")
            }
            status = v16
        }
        // An item's value goes out inside `list` replies and bulk RAW frames
        // (two levels more), which libmsgpack peers read to 32 levels only.
        if let value = map["value"], value.nestingDepth > VarStore.maxNestingDepth {
            throw .invalidData("value would nest deeper than \(VarStore.maxNestingDepth) levels")
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

    private static let varSetKeys = FieldKeys("i", "value")

    /// `var.set {i: tag, value}`
    func varSet(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) {
        // The usual payload read from its bytes; the rest as below.
        if let payload, let fields = MapFields(payload, Self.varSetKeys),
           let i = fields[0].flatMap(MapFields.str), OIDBytes.isASCII(i),
           let valueBytes = fields[1], let value = try? MsgPackValue(decodingValid: valueBytes) {
            try setVariable(try PLCTag(parsing: i), value)
            return
        }
        let map = try Params.map(payload)
        let tag = try PLCTag(parsing: try Params.requiredString(map, "i"))
        guard let value = map["value"] else { throw .invalidData("value is required") }
        try setVariable(tag, value)
    }

    /// `var.set_bulk {i: [tags], values: [values]}` → `{failed: [tags]}`
    /// when some failed, else `{}`. All writes happen under one lock, so
    /// readers (and the pull cycle) see all of them or none.
    func varSetBulk(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        let map = try Params.map(payload)
        guard case .array(let names)? = map["i"] else { throw .invalidData("i must be a list of tags") }
        guard case .array(let values)? = map["values"] else { throw .invalidData("values must be a list") }
        var texts: [String] = []
        texts.reserveCapacity(names.count)
        for name in names {
            guard let text = name.stringValue else { throw .invalidData("i must be a list of tag strings") }
            texts.append(text)
        }
        guard names.count == values.count else {
            throw .invalidParams("i has \(names.count) tags, values has \(values.count)")
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

    /// `var.destroy {i: name}`; a missing name is OK, as in the shipped
    /// controller.
    func varDestroy(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) {
        let map = try Params.map(payload)
        try Params.onlyKeys(map, ["i"])
        let tag = try PLCTag(parsing: try Params.requiredString(map, "i"))
        guard case .whole = tag.selector else { throw .invalidParams("var.destroy takes a name, not \(tag)") }
        vars.withLock { store in
            if store.values[tag.name] != nil { try? store.destroy(tag.name) }
        }
    }

    /// `var.list` (no payload, or `{full?}`) → `[{id}]` or `[{id, value}]`
    /// in name order.
    func varList(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        var full = false
        if let payload, payload.count > 0 {
            let map = try Params.map(payload)
            if let f = map["full"], !f.isNil {
                guard let b = f.boolValue else { throw .invalidData("full must be a bool") }
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

/// The fields of a `set` payload read from its bytes (`MapReader`), when
/// that gives the same as decoding it: keys `i`, `status` and `value` only,
/// each at most once; `i` a valid OID with its kind in full; `status` nil
/// or an int16; `value` canonical (it is stored as it came). Any other
/// payload, valid or not, is left to the general path (`init` returns nil).
struct FastSet {
    let key: UnsafeRawBufferPointer
    let status: Int16?
    let value: UnsafeRawBufferPointer?

    init?(_ payload: UnsafeRawBufferPointer) {
        guard var reader = MapReader(payload) else { return nil }
        var key: UnsafeRawBufferPointer?
        var status: Int16??
        var value: UnsafeRawBufferPointer?
        while reader.hasMore {
            guard let name = reader.nextKey() else { return nil }
            // The keys as `ShortKey` words, literal: no global to load per call.
            if name.count == 1, name.word == 0x69, key == nil {  // "i"
                guard let s = reader.string(), OIDBytes.isValid(s) else { return nil }
                key = s
            } else if name.count == 6, name.word == 0x7374_6174_7573, status == nil {  // "status"
                switch reader.integerOrNil() {
                case .some(.none): status = .some(nil)
                case .some(.some(let n)):
                    guard let n16 = Int16(exactly: n) else { return nil }
                    status = .some(n16)
                case .none: return nil
                }
            } else if name.count == 5, name.word == 0x76_616C_7565, value == nil {  // "value"
                guard let v = reader.canonicalValue() else { return nil }
                value = v
            } else {
                return nil  // another key (refused) or a repeat: the general path answers
            }
        }
        guard reader.atEnd, let key else { return nil }
        self.key = key
        self.status = status ?? nil
        self.value = value
    }
}

/// OID rules (see `OID`) on the bytes of an ASCII OID.
enum OIDBytes {
    static func isASCII(_ b: UnsafeRawBufferPointer) -> Bool {
        for i in 0..<b.count where b[i] >= 0x80 { return false }
        return true
    }

    /// A valid OID with its kind in full (the form items are keyed by).
    static func isValid(_ b: UnsafeRawBufferPointer) -> Bool {
        guard let (kind, colon) = OID.parse(b) else { return false }
        return colon == kind.nameCount
    }
}

