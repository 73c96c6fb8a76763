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
///
/// Decoded with the SDK's typed config decoding (`MsgPackValueDecoder`,
/// unknown keys refused at every level): type errors and unknown keys are
/// INVALID_PARAMS naming the key path (`config.pull[0].map[1].idx must be an
/// integer`); the rules a type cannot say (ranges, tags that set, unit
/// kinds) are checked here, naming the key the same way.
struct ControllerConfig: Sendable {
    var items: [OID] = []
    var autoCreate = false
    var pull: [PullTarget] = []
    var pullInterval: Double = 1
    /// Unit OID → the variable (tag) its completed actions set.
    var actionMap: [OID: PLCTag] = [:]
    /// Initial variables, after applying the configured tags in order.
    var seedVars: [String: MsgPackValue] = [:]
    /// `units`, `macros`, `macro_workers`, as given: the action engine
    /// decodes them (`ActionConfig`).
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
        // nil: no config (the launcher sends {} then)
        let file = raw.isNil ? ConfigFile()
            : try MsgPackValueDecoder(unknownKeys: .refuse).decode(ConfigFile.self, from: raw, root: "config")
        var seen = Set<OID>()
        for oid in file.items ?? [] where seen.insert(oid).inserted { items.append(oid) }
        autoCreate = file.auto_create ?? false
        for (n, entry) in (file.pull ?? []).enumerated() {
            for (m, mapping) in (entry.map ?? []).enumerated() {
                var idx: Int?
                if let i = mapping.idx {
                    guard i >= 0, i <= PLCTag.maxIndex else {
                        throw .invalidParams("config.pull[\(n)].map[\(m)].idx must be an integer 0...\(PLCTag.maxIndex)")
                    }
                    idx = i
                }
                pull.append(PullTarget(oid: mapping.oid, variable: entry.var.text, tag: entry.var.tag, idx: idx))
            }
        }
        if let f = file.pull_interval {
            guard f.isFinite, f > 0 else { throw .invalidParams("config.pull_interval must be a number of seconds > 0") }
            pullInterval = f
        }
        for (oid, target) in file.action_map?.entries ?? [] { actionMap[oid] = target.var.tag }
        if let vars = file.vars {
            var store = VarStore()
            for (tag, value) in vars.entries {
                do { try store.set(tag.tag, value) } catch {
                    throw EAPIError(rawCode: EAPIErrorCode.invalidParams.rawValue, "config.vars.\(tag.text): \(error.message)")
                }
            }
            seedVars = store.values
        }
        units = file.units
        macros = file.macros
        macroWorkers = file.macro_workers
        if let entries = file.bind?.entries {
            var oids = Set<OID>()
            for (tag, oid) in entries {
                bind[oid.path, default: []].append(tag.tag)
                oids.insert(oid)
            }
            boundOIDs = oids.sorted { ItemStore.precedes(Array($0.description.utf8), Array($1.description.utf8)) }
        }
        if let f = file.persist_interval {
            guard f.isFinite, f >= 0 else {
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

    static func describe(_ key: MsgPackValue) -> String {
        if case .string(let s) = key { return s }
        return "\(key)"
    }
}

/// The shape of `config:` (keys as written in a service template).
private struct ConfigFile: Decodable {
    struct PullEntry: Decodable {
        struct Mapping: Decodable {
            var oid: OID
            var idx: Int?
        }
        var `var`: TagText
        /// May be left out (nothing to copy), as the shipped controller allows.
        var map: [Mapping]?
    }

    struct VariableRef: Decodable {
        var `var`: TagText
    }

    var items: [OID]?
    var auto_create: Bool?
    var pull: [PullEntry]?
    var pull_interval: Double?
    var action_map: DecodedMap<OID, VariableRef>?
    /// Tag → value, applied in order.
    var vars: DecodedMap<TagText, MsgPackValue>?
    var units: MsgPackValue?
    var macros: MsgPackValue?
    var macro_workers: MsgPackValue?
    var bind: DecodedMap<TagText, OID>?
    var persist_interval: Double?
}

/// A PLC tag in a config (any tag, as the shipped controller takes them),
/// with its text for logs.
struct TagText: Decodable, Sendable {
    let text: String
    let tag: PLCTag

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let tag = PLCTag.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "is not a PLC tag: \"\(text)\""))
        }
        self.text = text
        self.tag = tag
    }
}
