#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization
import VirtualController

/// A ServiceHost for tests: records what the controller publishes,
/// subscribes and logs, and answers bus calls like a small node core
/// (`eva.registry` key_get/key_set/key_delete, `eva.core` test). Faults can
/// be switched on per op.
final class RecordingHost: ServiceHost {
    /// Where the launcher is: inside a lifecycle callback or not.
    enum Phase: String, Sendable {
        case idle, prepare, launch, terminate
        var isLifecycle: Bool { self != .idle }
    }

    struct Frame: Sendable {
        let topic: String
        let payload: MsgPackValue?
    }

    struct State {
        var frames: [Frame] = []
        var subscriptions: [String] = []
        var logs: [(LogLevel, String)] = []
        var registry: [String: MsgPackValue] = [:]
        /// Every bus call, with the lifecycle phase it was made in.
        var calls: [(target: String, method: String, phase: Phase)] = []
        /// The lifecycle callback running now (set by the test, as the
        /// launcher would be inside it).
        var phase: Phase = .idle
        /// The thread that is inside the callback.
        var phaseThread: pthread_t?
        var active = true
        /// What `eva.core test` answers: `active` for the first
        /// `coreInactiveTests` calls is false (then true); nil: no answer.
        var coreInactiveTests = 0
        var coreAnswers = true
        /// A `key_get` of the registry waits while this is true.
        var registryGetHeld = false
        /// A `key_set` of the registry waits while this is true.
        var registrySetHeld = false
        var terminateRequested = false
        /// Publishes that answer BUSY before one goes through.
        var busyPublishes = 0
        /// An error every registry call answers with.
        var registryError: EAPIError?
        /// Microseconds each PENDING event (ACT, status 2) takes to publish:
        /// widens the window in which something else of the action could
        /// overtake it.
        var slowPendingMicroseconds: UInt32 = 0
    }

    /// Guarded (a pthread mutex) rather than `Mutex`, so that ThreadSanitizer
    /// sees the ordering; `withLock` has the same shape.
    let state = Guarded(State())
    let logLevel: LogLevel

    init(logLevel: LogLevel = .trace, registry: [String: MsgPackValue] = [:]) {
        self.logLevel = logLevel
        state.withLock { $0.registry = registry }
    }

    func publish(topic: String, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        let value = payload.isEmpty ? nil : try MsgPackValue(decoding: payload)
        if topic.hasPrefix("ACT/"), value["status"] == 2 {
            let delay = state.withLock { $0.slowPendingMicroseconds }
            if delay > 0 { usleep(delay) }
        }
        let busy = state.withLock { s -> Bool in
            if s.busyPublishes > 0 {
                s.busyPublishes -= 1
                return true
            }
            s.frames.append(Frame(topic: topic, payload: value))
            return false
        }
        if busy { throw EAPIError(.busy) }
    }

    func subscribe(_ topics: [String]) throws(EAPIError) { state.withLock { $0.subscriptions += topics } }

    func unsubscribe(_ topics: [String]) throws(EAPIError) {
        state.withLock { s in s.subscriptions.removeAll { topics.contains($0) } }
    }

    func call(target: String, method: String, params: [UInt8]?) throws(EAPIError) -> [UInt8]? {
        let p = try params.map { (b: [UInt8]) throws(EAPIError) in try MsgPackValue(decoding: b) }
        // Another thread's call while `svc_prepare` or `svc_launch` runs is
        // served once the callback returns, as a one-thread node serves it;
        // still held after 2 s, the callback is waiting for it (a node
        // would hang), and it is recorded as made in the callback.
        let held = MonotonicClock.now() &+ 2_000_000_000
        while state.withLock({ s in
            (s.phase == .prepare || s.phase == .launch) && !(s.phaseThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false)
        }), MonotonicClock.now() < held {
            sleepSeconds(0.0005)
        }
        if target == "eva.registry", method == "key_get" {
            while state.withLock({ $0.registryGetHeld }) { sleepSeconds(0.001) }
        }
        if target == "eva.registry", method == "key_set" {
            while state.withLock({ $0.registrySetHeld }) { sleepSeconds(0.001) }
        }
        let result: Result<MsgPackValue?, EAPIError> = state.withLock { s in
            s.calls.append((target, method, s.phase))
            switch (target, method) {
            case ("eva.core", "test"):
                guard s.coreAnswers else { return .failure(EAPIError(.timeout)) }
                let tests = s.calls.filter { $0.target == "eva.core" && $0.method == "test" }.count
                return .success(["active": .bool(tests > s.coreInactiveTests)])
            case ("eva.registry", _):
                if let e = s.registryError { return .failure(e) }
                guard let key = p?["key"]?.stringValue else { return .failure(.invalidParams("key")) }
                switch method {
                case "key_get":
                    guard let v = s.registry[key] else { return .failure(.notFound(key)) }
                    return .success(v)
                case "key_set":
                    s.registry[key] = p?["value"] ?? .nil
                    return .success(nil)
                case "key_delete":
                    s.registry[key] = nil
                    return .success(nil)
                default:
                    return .failure(.methodNotFound(method))
                }
            default:
                return .failure(EAPIError(.busClientNotRegistered, target))
            }
        }
        return try result.get()?.encoded()
    }

    func isLogged(_ level: LogLevel) -> Bool { level >= logLevel && level != .off }
    func write(log level: LogLevel, _ message: String) { state.withLock { $0.logs.append((level, message)) } }
    var isActive: Bool { state.withLock { $0.active } }
    func terminate() { state.withLock { $0.terminateRequested = true; $0.active = false } }

    // Reading what happened.
    var frames: [Frame] { state.withLock { $0.frames } }
    func frames(topic: String) -> [Frame] { frames.filter { $0.topic == topic } }
    func frames(prefix: String) -> [Frame] { frames.filter { $0.topic.hasPrefix(prefix) } }
    var subscriptions: [String] { state.withLock { $0.subscriptions } }
    var logs: [(LogLevel, String)] { state.withLock { $0.logs } }
    var registry: [String: MsgPackValue] { state.withLock { $0.registry } }
    func clearFrames() { state.withLock { $0.frames.removeAll() } }
    /// Bus calls made while a lifecycle callback ran.
    var lifecycleCalls: [String] {
        state.withLock { $0.calls.filter { $0.phase.isLifecycle }.map { "\($0.target) \($0.method) in \($0.phase)" } }
    }
    func setPhase(_ phase: Phase) {
        state.withLock {
            $0.phase = phase
            $0.phaseThread = phase == .idle ? nil : pthread_self()
        }
    }
}
