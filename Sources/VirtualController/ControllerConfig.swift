import EAPI

/// One mapped item of a `pull` entry: copy the variable (or its element
/// `idx`) into the item's state.
struct PullTarget: Sendable {
    let oid: OID
    /// The tag as configured (for logs).
    let variable: String
    /// Any tag, as in the shipped controller (`arr`, `arr[1]`, `arr[0-9]`).
    let tag: PLCTag
    let idx: Int?
}

/// `initial.config`, checked. Every key is optional; an unknown key is an
/// error, as the shipped controller refuses unknown fields.
struct ControllerConfig: Sendable {
    static let keys: Set<String> = [
        "items", "auto_create", "pull", "pull_interval", "action_map", "vars", "units", "macros",
        "bind", "macro_workers", "persist_interval",
    ]

    var items: [OID] = []
    var autoCreate = false
    var pull: [PullTarget] = []
    var pullInterval: Double = 1
    /// Unit OID → the variable (tag) its completed actions set.
    var actionMap: [OID: PLCTag] = [:]
    /// Initial variables, after applying the configured tags in order.
    var seedVars: [String: MsgPackValue] = [:]
    var units: MsgPackValue?
    var macros: MsgPackValue?
    var macroWorkers: MsgPackValue?
    /// Item path (`kind/group/id`) → the tags a state event of it sets.
    var bind: [String: [PLCTag]] = [:]
    /// Bound OIDs in OID order (the subscriptions).
    var boundOIDs: [OID] = []
    /// Seconds between write-throughs of changed variables; 0: only at stop.
    var persistInterval: Double = 5

    init() {}

    init(_ raw: MsgPackValue) throws(EAPIError) {
        guard case .map(let map) = raw else { throw .invalidParams("config must be a map") }
        for entry in map.entries {
            guard case .string(let key) = entry.key, Self.keys.contains(key) else {
                throw .invalidParams("unknown config key: \(Self.describe(entry.key))")
            }
        }
        func present(_ key: String) -> MsgPackValue? {
            guard let v = map[key], !v.isNil else { return nil }
            return v
        }

        if let v = present("items") {
            guard case .array(let list) = v else { throw .invalidParams("config.items must be a list of OIDs") }
            var seen = Set<OID>()
            for (n, element) in list.enumerated() {
                let oid = try Self.oid(element, "config.items[\(n)]")
                if seen.insert(oid).inserted { items.append(oid) }
            }
        }
        if let v = present("auto_create") {
            guard let b = v.boolValue else { throw .invalidParams("config.auto_create must be a bool") }
            autoCreate = b
        }
        if let v = present("pull") { pull = try Self.pull(v) }
        if let v = present("pull_interval") {
            guard let f = v.doubleValue, f.isFinite, f > 0 else {
                throw .invalidParams("config.pull_interval must be a number of seconds > 0")
            }
            pullInterval = f
        }
        if let v = present("action_map") {
            guard case .map(let m) = v else { throw .invalidParams("config.action_map must be a map OID → {var}") }
            for entry in m.entries {
                let oid = try Self.oid(entry.key, "config.action_map key")
                let ctx = "config.action_map.\(oid)"
                guard case .map(let target) = entry.value else { throw .invalidParams("\(ctx) must be a map {var}") }
                try Self.onlyKeys(target, ["var"], ctx)
                guard let name = target["var"]?.stringValue else { throw .invalidParams("\(ctx).var must be a string") }
                actionMap[oid] = try Self.tag(name, "\(ctx).var")
            }
        }
        if let v = present("vars") {
            guard case .map(let m) = v else { throw .invalidParams("config.vars must be a map tag → value") }
            var store = VarStore()
            for entry in m.entries {
                guard case .string(let text) = entry.key else {
                    throw .invalidParams("config.vars: a key is not a string: \(Self.describe(entry.key))")
                }
                let tag = try Self.tag(text, "config.vars")
                do { try store.set(tag, entry.value) } catch {
                    throw EAPIError(rawCode: EAPIErrorCode.invalidParams.rawValue, "config.vars.\(text): \(error.message)")
                }
            }
            seedVars = store.values
        }
        units = present("units")
        macros = present("macros")
        macroWorkers = present("macro_workers")
        if let v = present("bind") {
            guard case .map(let m) = v else { throw .invalidParams("config.bind must be a map tag → OID") }
            var oids = Set<OID>()
            for entry in m.entries {
                guard case .string(let text) = entry.key else {
                    throw .invalidParams("config.bind: a key is not a string: \(Self.describe(entry.key))")
                }
                let tag = try Self.tag(text, "config.bind")
                let oid = try Self.oid(entry.value, "config.bind.\(text)")
                bind[oid.path, default: []].append(tag)
                oids.insert(oid)
            }
            boundOIDs = oids.sorted { ItemStore.precedes(Array($0.description.utf8), Array($1.description.utf8)) }
        }
        if let v = present("persist_interval") {
            guard let f = v.doubleValue, f.isFinite, f >= 0 else {
                throw .invalidParams("config.persist_interval must be a number of seconds >= 0")
            }
            persistInterval = f
        }
    }

    /// Every item the configuration names: `items`, then pull targets.
    var configuredOIDs: [OID] {
        var seen = Set<OID>()
        var out: [OID] = []
        for oid in items + pull.map(\.oid) where seen.insert(oid).inserted { out.append(oid) }
        return out
    }

    private static func pull(_ v: MsgPackValue) throws(EAPIError) -> [PullTarget] {
        guard case .array(let list) = v else { throw .invalidParams("config.pull must be a list of {var, map}") }
        var targets: [PullTarget] = []
        for (n, element) in list.enumerated() {
            let ctx = "config.pull[\(n)]"
            guard case .map(let entry) = element else { throw .invalidParams("\(ctx) must be a map {var, map}") }
            try onlyKeys(entry, ["var", "map"], ctx)
            guard let name = entry["var"]?.stringValue else { throw .invalidParams("\(ctx).var must be a string") }
            let tag = try Self.tag(name, "\(ctx).var")
            // `map` may be left out (nothing to copy), as the shipped controller allows.
            var maps: [MsgPackValue] = []
            if let m = entry["map"], !m.isNil {
                guard case .array(let list) = m else { throw .invalidParams("\(ctx).map must be a list of {oid, idx?}") }
                maps = list
            }
            for (m, mapping) in maps.enumerated() {
                let mctx = "\(ctx).map[\(m)]"
                guard case .map(let fields) = mapping else { throw .invalidParams("\(mctx) must be a map {oid, idx?}") }
                try onlyKeys(fields, ["oid", "idx"], mctx)
                guard let raw = fields["oid"] else { throw .invalidParams("\(mctx).oid is required") }
                let oid = try Self.oid(raw, "\(mctx).oid")
                var idx: Int?
                if let i = fields["idx"], !i.isNil {
                    guard let n = i.int64Value, n >= 0, n <= Int64(PLCTag.maxIndex) else {
                        throw .invalidParams("\(mctx).idx must be an integer 0...\(PLCTag.maxIndex)")
                    }
                    idx = Int(n)
                }
                targets.append(PullTarget(oid: oid, variable: name, tag: tag, idx: idx))
            }
        }
        return targets
    }

    private static func oid(_ v: MsgPackValue, _ ctx: String) throws(EAPIError) -> OID {
        guard let text = v.stringValue else { throw .invalidParams("\(ctx) must be an OID string") }
        guard let oid = OID(text) else { throw .invalidParams("\(ctx): invalid OID \"\(text)\"") }
        return oid
    }

    private static func tag(_ text: String, _ ctx: String) throws(EAPIError) -> PLCTag {
        guard let tag = PLCTag.parse(text) else { throw .invalidParams("\(ctx): malformed tag \"\(text)\"") }
        return tag
    }

    private static func onlyKeys(_ map: MsgPackMap, _ allowed: Set<String>, _ ctx: String) throws(EAPIError) {
        for entry in map.entries {
            guard case .string(let k) = entry.key, allowed.contains(k) else {
                throw .invalidParams("\(ctx): unknown key \(describe(entry.key))")
            }
        }
    }

    static func describe(_ key: MsgPackValue) -> String {
        if case .string(let s) = key { return s }
        return "\(key)"
    }
}
