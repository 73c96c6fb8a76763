#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization
import Testing
@testable import VirtualController

/// Shared helpers of the action engine's tests (a namespace, so that nothing
/// clashes with the controller tests' helpers).
enum ActionTestKit {
    static let pending: UInt8 = 0x02
    static let running: UInt8 = 0x08
    static let completed: UInt8 = 0x0F
    static let failed: UInt8 = 0x80
    static let canceled: UInt8 = 0x81
    static let terminated: UInt8 = 0x82

    /// A distinct 16-byte uuid per number.
    static func uuid(_ n: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 16)
        b[0] = 0xA5
        var v = UInt64(n)
        for i in 0..<8 {
            b[15 - i] = UInt8(truncatingIfNeeded: v)
            v >>= 8
        }
        return b
    }

    static func action(_ id: [UInt8], _ oid: String, value: MsgPackValue = 1, timeout: Int64? = nil,
                       priority: Int64? = nil) -> MsgPackValue {
        var m: MsgPackMap = ["uuid": .binary(id), "i": .string(oid), "params": ["value": value]]
        if let timeout { m["timeout"] = .int(timeout) }
        if let priority { m["priority"] = .int(priority) }
        return .map(m)
    }

    static func run(_ id: [UInt8], _ oid: String, args: [MsgPackValue]? = nil, kwargs: MsgPackMap? = nil,
                    timeout: Int64? = nil, priority: Int64? = nil) -> MsgPackValue {
        var m: MsgPackMap = ["uuid": .binary(id), "i": .string(oid)]
        var params = MsgPackMap()
        if let args { params["args"] = .array(args) }
        if let kwargs { params["kwargs"] = .map(kwargs) }
        if !params.isEmpty { m["params"] = .map(params) }
        if let timeout { m["timeout"] = .int(timeout) }
        if let priority { m["priority"] = .int(priority) }
        return .map(m)
    }

    static func terminate(_ id: [UInt8]) -> MsgPackValue { ["u": .binary(id)] }
    static func kill(_ oid: String) -> MsgPackValue { ["i": .string(oid)] }

    struct Event: Sendable {
        let topic: String
        let uuid: [UInt8]
        let status: UInt8
        let err: String?
        let out: MsgPackValue?
        let exitcode: Int64?
        let hasOut: Bool
    }

    /// Every ACT event, in publishing order.
    static func events(_ host: RecordingHost) -> [Event] {
        host.frames.compactMap { f -> Event? in
            guard f.topic.hasPrefix("ACT/"), let p = f.payload, case .binary(let u) = p["uuid"] ?? .nil,
                  let s = p["status"]?.int64Value else { return nil }
            return Event(topic: f.topic, uuid: u, status: UInt8(truncatingIfNeeded: s), err: p["err"]?.stringValue,
                         out: p["out"], exitcode: p["exitcode"]?.int64Value, hasOut: p["out"] != nil)
        }
    }

    static func events(_ host: RecordingHost, _ id: [UInt8]) -> [Event] { events(host).filter { $0.uuid == id } }
    static func statuses(_ host: RecordingHost, _ id: [UInt8]) -> [UInt8] { events(host, id).map(\.status) }

    static func isTerminal(_ s: UInt8) -> Bool { s >= 0x0F }

    static func frameCount(_ host: RecordingHost) -> Int { host.state.withLock { $0.frames.count } }

    /// Polls until `condition` holds; false on timeout.
    static func wait(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = MonotonicClock.now() + UInt64(seconds * 1e9)
        while MonotonicClock.now() < end {
            if condition() { return true }
            usleep(1_000)
        }
        return condition()
    }

    /// Waits for the uuid's terminal event; its statuses.
    @discardableResult
    static func waitEnd(_ host: RecordingHost, _ id: [UInt8], seconds: Double = 10) -> [UInt8] {
        _ = wait(seconds) { statuses(host, id).contains(where: isTerminal) }
        return statuses(host, id)
    }

    static func waitStatus(_ host: RecordingHost, _ id: [UInt8], _ status: UInt8, seconds: Double = 10) -> Bool {
        wait(seconds) { statuses(host, id).contains(status) }
    }

    static func code(_ body: () throws -> Void) -> EAPIErrorCode? {
        do {
            try body()
            return nil
        } catch let error as EAPIError {
            return error.code
        } catch {
            return .other
        }
    }

    /// A started engine with a recording host and fake effects.
    static func engine(units: MsgPackValue? = nil, macros: MsgPackValue? = nil, macroWorkers: MsgPackValue? = nil,
                       known: [String] = [], autoCreate: Bool = false, start: Bool = true,
                       logLevel: LogLevel = .info, watchOrder: Bool = true) throws -> (ActionEngine, RecordingHost, FakeEffects) {
        let host = RecordingHost(logLevel: logLevel)
        var knownUnits = known
        if case .map(let m)? = units { knownUnits += m.entries.compactMap { $0.key.stringValue } }
        let effects = FakeEffects(units: knownUnits, autoCreate: autoCreate, host: watchOrder ? host : nil)
        let engine = try ActionEngine(units: units, macros: macros, macroWorkers: macroWorkers, defaultWorkers: 2,
                                      host: host, effects: effects)
        if start { engine.start() }
        return (engine, host, effects)
    }

    static func stop(_ engine: ActionEngine, seconds: Double = 5) {
        engine.shutdown(deadline: MonotonicClock.now() + UInt64(seconds * 1e9))
    }

    /// Checks the invariant for every uuid that has events: PENDING first,
    /// exactly one terminal event, last; RUNNING at most once, before it.
    /// `accepted`, when given, must each have exactly that shape, and no
    /// other uuid may have events. Returns the problems found.
    static func invariantProblems(_ host: RecordingHost, accepted: Set<[UInt8]>? = nil) -> [String] {
        var byUUID: [[UInt8]: [UInt8]] = [:]
        for e in events(host) { byUUID[e.uuid, default: []].append(e.status) }
        var problems: [String] = []
        for (u, list) in byUUID {
            let terminals = list.filter(isTerminal).count
            if list.first != pending { problems.append("\(u): first event is not PENDING: \(list)") }
            if terminals != 1 { problems.append("\(u): \(terminals) terminal events: \(list)") }
            if let last = list.last, !isTerminal(last) { problems.append("\(u): last event is not terminal: \(list)") }
            if list.filter({ $0 == pending }).count != 1 { problems.append("\(u): PENDING count: \(list)") }
            if list.filter({ $0 == running }).count > 1 { problems.append("\(u): RUNNING twice: \(list)") }
            if let accepted, !accepted.contains(u) { problems.append("\(u): events of a uuid never accepted") }
        }
        if let accepted {
            for u in accepted where byUUID[u] == nil { problems.append("\(u): accepted but no events") }
        }
        return problems
    }
}
