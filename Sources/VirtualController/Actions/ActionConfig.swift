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

/// The action-related part of the controller config.
struct ActionConfig: Sendable {
    /// Configured units, ordered by OID.
    var units: [(oid: OID, settings: UnitSettings)] = []
    var macros: [MacroDefinition] = []
    var macroWorkers = 1

    init(units: MsgPackValue?, macros: MsgPackValue?, macroWorkers: MsgPackValue?,
         defaultWorkers: Int) throws(EAPIError) {
        self.units = try Self.parseUnits(units)
        self.macros = try Self.parseMacros(macros)
        if let raw = macroWorkers, !raw.isNil {
            guard let n = raw.int64Value, n >= 1, n <= 1_000_000 else {
                throw .invalidParams("macro_workers must be an integer >= 1")
            }
            self.macroWorkers = Int(n)
        } else {
            self.macroWorkers = max(1, defaultWorkers)
        }
    }

    private static func parseUnits(_ raw: MsgPackValue?) throws(EAPIError) -> [(oid: OID, settings: UnitSettings)] {
        guard let raw, !raw.isNil else { return [] }
        guard case .map(let map) = raw else { throw .invalidParams("units must be a map of unit OID to settings") }
        var result: [(oid: OID, settings: UnitSettings)] = []
        var seen = Set<String>()
        for entry in map.entries {
            guard let key = entry.key.stringValue, let oid = OID(key) else {
                throw .invalidParams("units: key \(describe(entry.key)) is not an OID")
            }
            guard oid.kind == .unit else { throw .invalidParams("units: \(key) is not a unit OID") }
            guard seen.insert(oid.description).inserted else { throw .invalidParams("units: \(key) is listed twice") }
            var settings = UnitSettings()
            let ctx = "units.\(key)"
            switch entry.value {
            case .nil:
                break
            case .map(let m):
                for field in m.entries {
                    let name = field.key.stringValue ?? describe(field.key)
                    let v = field.value
                    switch name {
                    case "action_time":
                        if v.isNil { continue }
                        guard let t = v.doubleValue, t.isFinite, t >= 0 else {
                            throw .invalidParams("\(ctx).action_time must be a number of seconds >= 0")
                        }
                        settings.actionTime = MonotonicClock.nanoseconds(seconds: t)
                    case "fail":
                        if v.isNil { continue }
                        guard let b = v.boolValue else { throw .invalidParams("\(ctx).fail must be a bool") }
                        settings.fail = b
                    case "status":
                        if v.isNil { continue }
                        guard let s = v.int64Value, let s16 = Int16(exactly: s) else {
                            throw .invalidParams("\(ctx).status must be an int16")
                        }
                        settings.status = s16
                    default:
                        throw .invalidParams("\(ctx): unknown field \(name)")
                    }
                }
            default:
                throw .invalidParams("\(ctx) must be a map")
            }
            result.append((oid, settings))
        }
        result.sort { $0.oid < $1.oid }
        return result
    }

    private static func parseMacros(_ raw: MsgPackValue?) throws(EAPIError) -> [MacroDefinition] {
        guard let raw, !raw.isNil else { return [] }
        guard case .map(let map) = raw else { throw .invalidParams("macros must be a map of lmacro OID to {steps}") }
        var result: [MacroDefinition] = []
        var seen = Set<String>()
        for entry in map.entries {
            guard let key = entry.key.stringValue, let oid = OID(key) else {
                throw .invalidParams("macros: key \(describe(entry.key)) is not an OID")
            }
            guard oid.kind == .lmacro else { throw .invalidParams("macros: \(key) is not an lmacro OID") }
            guard seen.insert(oid.description).inserted else { throw .invalidParams("macros: \(key) is listed twice") }
            let ctx = "macros.\(key)"
            var steps: [MacroStep] = []
            switch entry.value {
            case .nil:
                break
            case .map(let m):
                for field in m.entries {
                    let name = field.key.stringValue ?? describe(field.key)
                    guard name == "steps" else { throw .invalidParams("\(ctx): unknown field \(name)") }
                    if field.value.isNil { continue }
                    guard case .array(let list) = field.value else {
                        throw .invalidParams("\(ctx).steps must be a list")
                    }
                    for (n, step) in list.enumerated() {
                        steps.append(try parseStep(step, context: "\(ctx).steps[\(n)]"))
                    }
                }
            default:
                throw .invalidParams("\(ctx) must be a map")
            }
            result.append(MacroDefinition(oid: oid, steps: steps))
        }
        result.sort { $0.oid < $1.oid }
        return result
    }

    static func parseStep(_ raw: MsgPackValue, context ctx: String) throws(EAPIError) -> MacroStep {
        guard case .map(let m) = raw, m.count == 1, let kind = m.entries[0].key.stringValue else {
            throw .invalidParams("\(ctx) must be a map with exactly one step kind")
        }
        let body = m.entries[0].value
        switch kind {
        case "set":
            let f = try fields(body, allowed: ["i", "status", "value"], context: "\(ctx).set")
            guard let i = f["i"] else { throw .invalidParams("\(ctx).set.i is required") }
            try checkOID(i, unitOnly: false, context: "\(ctx).set.i")
            if let s = f["status"], !s.isNil {
                try checkInt16(s, context: "\(ctx).set.status")
            }
            let status = f["status"].flatMap { $0.isNil ? nil : $0 }
            return .set(i: i, status: status, value: f["value"])
        case "var":
            let f = try fields(body, allowed: ["i", "value"], context: "\(ctx).var")
            guard let i = f["i"] else { throw .invalidParams("\(ctx).var.i is required") }
            guard let tag = i.stringValue, !tag.isEmpty else { throw .invalidParams("\(ctx).var.i must be a tag") }
            guard let value = f["value"] else { throw .invalidParams("\(ctx).var.value is required") }
            return .variable(i: i, value: value)
        case "action":
            let f = try fields(body, allowed: ["i", "value"], context: "\(ctx).action")
            guard let i = f["i"] else { throw .invalidParams("\(ctx).action.i is required") }
            try checkOID(i, unitOnly: true, context: "\(ctx).action.i")
            return .action(i: i, value: f["value"] ?? .nil)
        case "sleep":
            if case .string(let s) = body, ArgumentRef(s) != nil { return .sleep(body) }
            guard let t = body.doubleValue, t.isFinite, t >= 0 else {
                throw .invalidParams("\(ctx).sleep must be a number of seconds >= 0")
            }
            return .sleep(body)
        case "call":
            let f = try fields(body, allowed: ["target", "method", "params"], context: "\(ctx).call")
            guard let target = f["target"], target.stringValue != nil else {
                throw .invalidParams("\(ctx).call.target must be a string")
            }
            guard let method = f["method"], method.stringValue != nil else {
                throw .invalidParams("\(ctx).call.method must be a string")
            }
            return .call(target: target, method: method, params: f["params"])
        case "out":
            return .out(body)
        case "fail":
            guard body.stringValue != nil else { throw .invalidParams("\(ctx).fail must be a string") }
            return .fail(body)
        default:
            throw .invalidParams("\(ctx): unknown step kind \(kind)")
        }
    }

    private static func fields(_ body: MsgPackValue, allowed: [String], context: String) throws(EAPIError) -> MsgPackMap {
        guard case .map(let m) = body else { throw .invalidParams("\(context) must be a map") }
        for entry in m.entries {
            guard let k = entry.key.stringValue, allowed.contains(k) else {
                throw .invalidParams("\(context): unknown field \(describe(entry.key))")
            }
        }
        return m
    }

    private static func checkOID(_ v: MsgPackValue, unitOnly: Bool, context: String) throws(EAPIError) {
        guard let s = v.stringValue else { throw .invalidParams("\(context) must be an OID") }
        if ArgumentRef(s) != nil { return }
        guard let oid = OID(s) else { throw .invalidParams("\(context): \(s) is not an OID") }
        if unitOnly, oid.kind != .unit { throw .invalidParams("\(context): \(s) is not a unit OID") }
    }

    private static func checkInt16(_ v: MsgPackValue, context: String) throws(EAPIError) {
        if let s = v.stringValue, ArgumentRef(s) != nil { return }
        guard let n = v.int64Value, Int16(exactly: n) != nil else { throw .invalidParams("\(context) must be an int16") }
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
