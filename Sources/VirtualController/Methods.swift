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

    /// By length, then bytes: no table, no String, no allocation.
    init?(bytes: UnsafeRawBufferPointer) {
        func eq(_ name: StaticString) -> Bool {
            MsgPackScanner.equal(bytes, UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
        let found: Method?
        switch bytes.count {
        case 3: found = eq("get") ? .get : eq("set") ? .set : eq("run") ? .run : nil
        case 4:
            found = eq("list") ? .list : eq("test") ? .test : eq("info") ? .info : eq("stop") ? .stop
                : eq("kill") ? .kill : nil
        case 6: found = eq("action") ? .action : nil
        case 7: found = eq("var.get") ? .varGet : eq("var.set") ? .varSet : nil
        case 8: found = eq("var.list") ? .varList : nil
        case 9: found = eq("terminate") ? .terminate : nil
        case 11: found = eq("var.destroy") ? .varDestroy : nil
        case 12: found = eq("var.set_bulk") ? .varSetBulk : nil
        default: found = nil
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
    /// no String, no allocation once the reply buffer has grown.
    func get(_ payload: UnsafeRawBufferPointer?, reply: MsgPackWriter) throws(EAPIError) {
        let key = try Params.fastString(payload, key: "i")
        let found = items.withLock { store -> Bool in
            guard let slot = store.find(key) else { return false }
            store.write(slot, to: reply)
            return true
        }
        if found { return }
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

    /// `set {i, status?, value?}`
    func set(_ payload: UnsafeRawBufferPointer?) throws(EAPIError) {
        let map = try Params.map(payload)
        let oid = try Params.oid(map, "i")
        var status: Int16?
        if let s = map["status"], !s.isNil {
            guard let v = s.int64Value, let v16 = Int16(exactly: v) else {
                throw .invalidParams("status must be an integer in the int16 range")
            }
            status = v16
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
