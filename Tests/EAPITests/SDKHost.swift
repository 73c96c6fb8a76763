import EAPI
import Synchronization

/// A ServiceHost for the SDK tests: records publications, answers BUSY a
/// given number of times (or always), answers `eva.core test` from a list.
final class SDKHost: ServiceHost {
    struct State {
        var frames: [(topic: String, payload: MsgPackValue?)] = []
        var publishAttempts = 0
        var busyPublishes = 0
        var alwaysBusy = false
        var coreAnswers: [Bool] = []
        /// `eva.core test` calls that fail (BUS_TIMEOUT) before answers come.
        var coreFailures = 0
        var calls = 0
        var callback: LifecycleCallback?
        var shutdownTimeLeft: Double?
        var logs: [(LogLevel, String)] = []
    }

    let state = Mutex(State())

    func publish(topic: String, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        let value = payload.isEmpty ? nil : try MsgPackValue(decoding: payload)
        let busy = state.withLock { s -> Bool in
            s.publishAttempts += 1
            if s.alwaysBusy { return true }
            if s.busyPublishes > 0 {
                s.busyPublishes -= 1
                return true
            }
            s.frames.append((topic, value))
            return false
        }
        if busy { throw .busy() }
    }

    func subscribe(_ topics: [String]) throws(EAPIError) {}
    func unsubscribe(_ topics: [String]) throws(EAPIError) {}

    func call(target: String, method: String, params: [UInt8]?) throws(EAPIError) -> [UInt8]? {
        guard target == "eva.core", method == "test" else { throw EAPIError(.busClientNotRegistered) }
        let active = state.withLock { s -> Bool? in
            s.calls += 1
            if s.coreFailures > 0 {
                s.coreFailures -= 1
                return nil
            }
            return s.coreAnswers.isEmpty ? false : s.coreAnswers.removeFirst()
        }
        guard let active else { throw EAPIError(.busTimeout) }
        return MsgPackValue.map(["active": .bool(active), "build": 1]).encoded()
    }

    func isLogged(_ level: LogLevel) -> Bool { true }
    func write(log level: LogLevel, _ message: String) { state.withLock { $0.logs.append((level, message)) } }
    var isActive: Bool { true }
    func terminate() {}
    var lifecycleCallback: LifecycleCallback? { state.withLock { $0.callback } }
    var shutdownTimeLeft: Double? { state.withLock { $0.shutdownTimeLeft } }

    var frames: [(topic: String, payload: MsgPackValue?)] { state.withLock { $0.frames } }
}
