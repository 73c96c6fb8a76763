import EAPI

/// `units.<oid>`: how a simulated unit action behaves.
struct UnitSettings: Sendable {
    /// Simulated duration, nanoseconds.
    var actionTime: UInt64 = 0
    var fail = false
    /// Status the unit gets on completion.
    var status: Int16 = ItemStatus.ok

    static let auto = UnitSettings()
}

/// A reference to a run argument: `$1` (1-based position) or `$name`.
enum ArgumentRef: Equatable {
    case positional(Int)
    case named(String)

    /// `$` then digits (positional) or an identifier (named); anything else is
    /// a plain string.
    init?(_ s: String) {
        let utf8 = s.utf8
        guard utf8.count > 1, utf8.first == UInt8(ascii: "$") else { return nil }
        let rest = utf8.dropFirst()
        if rest.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard rest.count <= 9 else { return nil }
            var n = 0
            for d in rest { n = n * 10 + Int(d - UInt8(ascii: "0")) }
            self = .positional(n)
            return
        }
        func isIdent(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
        }
        guard rest.allSatisfy(isIdent) else { return nil }
        self = .named(String(s.dropFirst()))
    }

    var text: String {
        switch self {
        case .positional(let n): "$\(n)"
        case .named(let name): "$\(name)"
        }
    }
}

/// One lmacro step, with its raw (unsubstituted) values; the types were
/// checked at config time as far as literals allow, and are checked again
/// after substitution.
enum MacroStep: Sendable {
    case set(i: MsgPackValue, status: MsgPackValue?, value: MsgPackValue?)
    case variable(i: MsgPackValue, value: MsgPackValue)
    case action(i: MsgPackValue, value: MsgPackValue)
    case sleep(MsgPackValue)
    case call(target: MsgPackValue, method: MsgPackValue, params: MsgPackValue?)
    case out(MsgPackValue)
    case fail(MsgPackValue)

    var name: String {
        switch self {
        case .set: "set"
        case .variable: "var"
        case .action: "action"
        case .sleep: "sleep"
        case .call: "call"
        case .out: "out"
        case .fail: "fail"
        }
    }
}

struct MacroDefinition: Sendable {
    let oid: OID
    let steps: [MacroStep]
}

/// The action-related part of the controller config, decoded with the
/// SDK's typed config decoding (`MsgPackValueDecoder`, unknown keys refused):
/// errors are INVALID_PARAMS naming the key path (`config.units.unit:a/b.fail
/// must be a bool`); the rules a type cannot say (unit and lmacro kinds,
/// ranges, OIDs in steps) are checked here, naming the key the same way.
struct ActionConfig: Sendable {
    /// Configured units, ordered by OID.
    var units: [(oid: OID, settings: UnitSettings)] = []
    var macros: [MacroDefinition] = []
    var macroWorkers = 1

    private struct UnitEntry: Decodable {
        var action_time: Double?
        var fail: Bool?
        var status: Int16?
    }

    private struct MacroEntry: Decodable {
        var steps: [MacroStep]?
    }

    init(units: MsgPackValue?, macros: MsgPackValue?, macroWorkers: MsgPackValue?,
         defaultWorkers: Int) throws(EAPIError) {
        let decoder = MsgPackValueDecoder(unknownKeys: .refuse)
        if let units, !units.isNil {
            var seen = Set<OID>()
            for (oid, entry) in try decoder.decode(DecodedMap<OID, UnitEntry?>.self, from: units, root: "config.units").entries {
                let ctx = "config.units.\(oid)"
                guard oid.kind == .unit else { throw .invalidParams("\(ctx) is not a unit OID") }
                guard seen.insert(oid).inserted else { throw .invalidParams("\(ctx) is listed twice") }
                var settings = UnitSettings()
                if let t = entry?.action_time {
                    guard t.isFinite, t >= 0 else { throw .invalidParams("\(ctx).action_time must be a number of seconds >= 0") }
                    settings.actionTime = MonotonicClock.nanoseconds(seconds: t)
                }
                if let fail = entry?.fail { settings.fail = fail }
                if let status = entry?.status { settings.status = status }
                self.units.append((oid, settings))
            }
            self.units.sort { $0.oid < $1.oid }
        }
        if let macros, !macros.isNil {
            var seen = Set<OID>()
            for (oid, entry) in try decoder.decode(DecodedMap<OID, MacroEntry?>.self, from: macros, root: "config.macros").entries {
                let ctx = "config.macros.\(oid)"
                guard oid.kind == .lmacro else { throw .invalidParams("\(ctx) is not an lmacro OID") }
                guard seen.insert(oid).inserted else { throw .invalidParams("\(ctx) is listed twice") }
                self.macros.append(MacroDefinition(oid: oid, steps: entry?.steps ?? []))
            }
            self.macros.sort { $0.oid < $1.oid }
        }
        if let raw = macroWorkers, !raw.isNil {
            let n = try decoder.decode(Int.self, from: raw, root: "config.macro_workers")
            guard n >= 1, n <= 1_000_000 else { throw .invalidParams("config.macro_workers must be an integer >= 1") }
            self.macroWorkers = n
        } else {
            self.macroWorkers = max(1, defaultWorkers)
        }
    }
}

/// A step as written: a map of exactly one step kind. Values stay raw (they
/// may hold `$1`, `$name`); literals are checked as far as they can be.
extension MacroStep: Decodable {
    private struct Kind: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }
    private enum SetKeys: String, CodingKey { case i, status, value }
    private enum VarKeys: String, CodingKey { case i, value }
    private enum CallKeys: String, CodingKey { case target, method, params }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Kind.self)
        // (allKeys builds its array anew on each read)
        let keys = c.allKeys
        guard keys.count == 1, let kind = keys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "must be a map with exactly one step kind (set, var, action, sleep, call, out, fail)"))
        }
        func bad(_ path: [any CodingKey], _ text: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: path, debugDescription: text))
        }
        switch kind.stringValue {
        case "set":
            let f = try c.nestedContainer(keyedBy: SetKeys.self, forKey: kind)
            let i = try f.decode(MsgPackValue.self, forKey: .i)
            if let why = Self.checkOID(i, unitOnly: false) { throw bad(f.codingPath + [SetKeys.i], why) }
            var status: MsgPackValue?
            if let s = try f.decodeIfPresent(MsgPackValue.self, forKey: .status) {
                if !(s.stringValue.map { ArgumentRef($0) != nil } ?? false),
                   s.int64Value.flatMap({ Int16(exactly: $0) }) == nil {
                    throw bad(f.codingPath + [SetKeys.status], "must be an int16")
                }
                status = s
            }
            // an explicit nil value sets nil: kept apart from no value
            // (MsgPackValue takes a nil literal: so no `?:` here)
            var value: MsgPackValue? = Optional.none
            if f.contains(.value) { value = try f.decode(MsgPackValue.self, forKey: .value) }
            self = .set(i: i, status: status, value: value)
        case "var":
            let f = try c.nestedContainer(keyedBy: VarKeys.self, forKey: kind)
            let i = try f.decode(MsgPackValue.self, forKey: .i)
            guard let tag = i.stringValue, !tag.isEmpty else { throw bad(f.codingPath + [VarKeys.i], "must be a tag") }
            self = .variable(i: i, value: try f.decode(MsgPackValue.self, forKey: .value))
        case "action":
            let f = try c.nestedContainer(keyedBy: VarKeys.self, forKey: kind)
            let i = try f.decode(MsgPackValue.self, forKey: .i)
            if let why = Self.checkOID(i, unitOnly: true) { throw bad(f.codingPath + [VarKeys.i], why) }
            let value = f.contains(.value) ? try f.decode(MsgPackValue.self, forKey: .value) : .nil
            self = .action(i: i, value: value)
        case "sleep":
            let body = try c.decode(MsgPackValue.self, forKey: kind)
            if case .string(let s) = body, ArgumentRef(s) != nil {
                self = .sleep(body)
                return
            }
            guard let t = body.doubleValue, t.isFinite, t >= 0 else {
                throw bad(c.codingPath + [kind], "must be a number of seconds >= 0")
            }
            self = .sleep(body)
        case "call":
            let f = try c.nestedContainer(keyedBy: CallKeys.self, forKey: kind)
            let target = try f.decode(MsgPackValue.self, forKey: .target)
            guard target.stringValue != nil else { throw bad(f.codingPath + [CallKeys.target], "must be a string") }
            let method = try f.decode(MsgPackValue.self, forKey: .method)
            guard method.stringValue != nil else { throw bad(f.codingPath + [CallKeys.method], "must be a string") }
            var params: MsgPackValue? = Optional.none
            if f.contains(.params) { params = try f.decode(MsgPackValue.self, forKey: .params) }
            self = .call(target: target, method: method, params: params)
        case "out":
            self = .out(try c.decode(MsgPackValue.self, forKey: kind))
        case "fail":
            let body = try c.decode(MsgPackValue.self, forKey: kind)
            guard body.stringValue != nil else { throw bad(c.codingPath + [kind], "must be a string") }
            self = .fail(body)
        default:
            throw bad(c.codingPath + [kind], "is not a step kind (set, var, action, sleep, call, out, fail)")
        }
    }

    /// Why `v` is not an OID (a `$` reference passes: checked when run).
    private static func checkOID(_ v: MsgPackValue, unitOnly: Bool) -> String? {
        guard let s = v.stringValue else { return "must be an OID" }
        if ArgumentRef(s) != nil { return nil }
        guard let oid = OID(s) else { return "is not an OID: \(s)" }
        if unitOnly, oid.kind != .unit { return "is not a unit OID: \(s)" }
        return nil
    }
}

/// A short rendering of a value for messages.
func describe(_ v: MsgPackValue) -> String {
    switch v {
    case .nil: "nil"
    case .bool(let b): "\(b)"
    case .int(let i): "\(i)"
    case .uint(let u): "\(u)"
    case .float(let f): "\(f)"
    case .double(let d): "\(d)"
    case .string(let s): s
    case .binary(let b): "bin(\(b.count))"
    case .array(let a): "array(\(a.count))"
    case .map(let m): "map(\(m.count))"
    case .ext(let t, let d): "ext(\(t), \(d.count))"
    }
}
