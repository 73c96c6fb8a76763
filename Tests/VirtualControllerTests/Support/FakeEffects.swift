import EAPI
import VirtualController

/// A value behind a pthread lock (Support's `Condition`). The tests' fakes use
/// it rather than `Synchronization.Mutex`, whose futex-based lock
/// ThreadSanitizer cannot see (it reports false races on Linux).
/// Unchecked Sendable: `value` is only touched inside `withLock`.
final class PthreadLocked<Value>: @unchecked Sendable {
    private let lock = Condition()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try lock.withLock { try body(&value) }
    }
}

/// An ActionEffects for the action engine's tests: knows a set of units
/// (or creates any with `autoCreate`) and records what the engine applied.
final class FakeEffects: ActionEffects {
    struct Completion: Sendable {
        let oid: String
        let status: Int16
        let value: MsgPackValue
        /// COMPLETED events already on the unit's topic when the call came.
        let completedFramesBefore: Int
    }

    struct State {
        var units: Set<String> = []
        var autoCreate = false
        var ensured: [String] = []
        var completions: [Completion] = []
        var sets: [(oid: String, status: Int16?, value: MsgPackValue?)] = []
        var vars: [(tag: String, value: MsgPackValue)] = []
        /// An error `setItem` and `setVariable` answer with.
        var failWith: EAPIError?
    }

    let state = PthreadLocked(State())
    /// When set, each completion notes the COMPLETED events already published
    /// (costly: for small tests only).
    let host: RecordingHost?

    init(units: [String] = [], autoCreate: Bool = false, host: RecordingHost? = nil) {
        self.host = host
        state.withLock {
            $0.units = Set(units)
            $0.autoCreate = autoCreate
        }
    }

    func ensureUnit(_ oid: OID) throws(EAPIError) {
        let ok = state.withLock { s -> Bool in
            s.ensured.append(oid.description)
            if s.units.contains(oid.description) { return true }
            if s.autoCreate {
                s.units.insert(oid.description)
                return true
            }
            return false
        }
        if !ok { throw .notFound("unit \(oid)") }
    }

    func completeUnitAction(_ oid: OID, status: Int16, value: MsgPackValue) {
        let before = host.map { h in
            h.frames(topic: "ACT/" + oid.path).filter { $0.payload?["status"] == .int(0x0F) }.count
        } ?? 0
        state.withLock {
            $0.completions.append(Completion(oid: oid.description, status: status, value: value,
                                             completedFramesBefore: before))
        }
    }

    func setItem(_ oid: OID, status: Int16?, value: MsgPackValue?) throws(EAPIError) {
        let error = state.withLock { s -> EAPIError? in
            if let e = s.failWith { return e }
            s.sets.append((oid.description, status, value))
            return nil
        }
        if let error { throw error }
    }

    func setVariable(tag: String, value: MsgPackValue) throws(EAPIError) {
        let error = state.withLock { s -> EAPIError? in
            if let e = s.failWith { return e }
            s.vars.append((tag, value))
            return nil
        }
        if let error { throw error }
    }

    var completions: [Completion] { state.withLock { $0.completions } }
    var sets: [(oid: String, status: Int16?, value: MsgPackValue?)] { state.withLock { $0.sets } }
    var vars: [(tag: String, value: MsgPackValue)] { state.withLock { $0.vars } }
    var ensured: [String] { state.withLock { $0.ensured } }
}
