#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization
import Testing
@testable import VirtualController

/// A controller on a RecordingHost, with helpers to call it as the
/// launcher would (raw method bytes, raw payload bytes).
final class ControllerHarness: Sendable {
    let host: RecordingHost
    let controller: VirtualController
    let serviceID: String

    /// Builds the controller; `prepare` (default) makes it ready, and then
    /// `loadVariables` (default) loads the variables on this thread, as the
    /// controller's thread does after launch (so tests of the methods need
    /// not launch).
    init(config: MsgPackValue = [:], registry: [String: MsgPackValue] = [:], id: String = "test.virtual",
         failMode: Bool = false, reactToFail: Bool = false, shutdown: Double = 5,
         registryError: EAPIError? = nil, prepare: Bool = true, loadVariables: Bool = true,
         logLevel: LogLevel = .trace, workers: Int64 = 2, dataPath: String = "", coreActive: Bool = true) throws {
        host = RecordingHost(logLevel: logLevel, registry: registry)
        if let registryError { host.state.withLock { $0.registryError = registryError } }
        serviceID = id
        controller = try VirtualController(
            initial: try Self.initial(config: config, id: id, failMode: failMode, reactToFail: reactToFail,
                                      shutdown: shutdown, workers: workers, dataPath: dataPath,
                                      coreActive: coreActive),
            host: host)
        if prepare {
            try self.prepare()
            if loadVariables { controller.loadVariablesNow() }
        }
    }

    static func initial(config: MsgPackValue, id: String = "test.virtual", failMode: Bool = false,
                        reactToFail: Bool = false, shutdown: Double = 5, workers: Int64 = 2,
                        dataPath: String = "", coreActive: Bool = true) throws -> InitialPayload {
        try InitialPayload([
            "version": 4, "id": .string(id), "system_name": "test", "command": "svc/eva-ffi",
            "timeout": ["startup": 5, "shutdown": .double(shutdown), "default": 2],
            "core": ["log_level": 0, "active": .bool(coreActive)],
            "config": config, "workers": .int(workers), "user": "", "data_path": .string(dataPath),
            "fail_mode": .bool(failMode), "react_to_fail": .bool(reactToFail),
        ])
    }

    // The lifecycle as the launcher drives it: the host knows which
    // callback runs (to tell bus calls made inside one).
    func prepare() throws {
        host.setPhase(.prepare)
        defer { host.setPhase(.idle) }
        try controller.prepare()
    }

    func launch() throws {
        host.setPhase(.launch)
        defer { host.setPhase(.idle) }
        try controller.launch()
    }

    /// IS_ACTIVE off, then `svc_terminate`, as the launcher stops.
    func stop() {
        host.state.withLock { $0.active = false }
        host.setPhase(.terminate)
        defer { host.setPhase(.idle) }
        controller.terminate()
    }

    var registryKey: String { "eva/svc_data/\(serviceID)/vars" }

    /// Calls a method with raw bytes; nil payload: no payload. Returns the
    /// reply decoded (nil: no payload).
    func callRaw(_ method: [UInt8], _ payload: [UInt8]?) throws(EAPIError) -> MsgPackValue? {
        let writer = MsgPackWriter()
        let controller = self.controller
        let result: Result<Void, EAPIError> = method.withUnsafeBytes { m in
            guard let payload else {
                return Result { () throws(EAPIError) in try controller.handleCall(method: m, payload: nil, reply: writer) }
            }
            return payload.withUnsafeBytes { p in
                Result { () throws(EAPIError) in try controller.handleCall(method: m, payload: p, reply: writer) }
            }
        }
        try result.get()
        if writer.count == 0 { return nil }
        return try MsgPackValue(decoding: writer.bytes)
    }

    /// Calls with a value payload (nil: no payload).
    @discardableResult
    func call(_ method: String, _ params: MsgPackValue? = nil) throws(EAPIError) -> MsgPackValue? {
        try callRaw(Array(method.utf8), params?.encoded())
    }

    /// The error code a call answers with, nil when it succeeds.
    func code(_ method: String, _ params: MsgPackValue? = nil) -> EAPIErrorCode? {
        do { _ = try call(method, params) } catch { return error.code }
        return nil
    }

    func codeRaw(_ method: [UInt8], _ payload: [UInt8]?) -> EAPIErrorCode? {
        do { _ = try callRaw(method, payload) } catch { return error.code }
        return nil
    }

    func frame(topic: String, payload: [UInt8]) {
        Array(topic.utf8).withUnsafeBytes { t in
            payload.withUnsafeBytes { p in controller.handleFrame(topic: t, payload: p) }
        }
    }

    func varGet(_ tag: String) throws(EAPIError) -> MsgPackValue? { try call("var.get", ["i": .string(tag)]) }
    func varSet(_ tag: String, _ value: MsgPackValue) throws(EAPIError) {
        try call("var.set", ["i": .string(tag), "value": value])
    }
    func get(_ oid: String) throws(EAPIError) -> MsgPackValue? { try call("get", ["i": .string(oid)]) }

    func logs(_ level: LogLevel) -> [String] { host.logs.filter { $0.0 == level }.map(\.1) }

    var registryCalls: [String] {
        host.state.withLock { $0.calls.filter { $0.target == "eva.registry" }.map(\.method) }
    }
}

/// Polls `condition` every millisecond until it holds or `seconds` pass.
@discardableResult
func waitUntil(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = MonotonicClock.now() + MonotonicClock.nanoseconds(seconds: seconds)
    while MonotonicClock.now() < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

func sleepSeconds(_ s: Double) { usleep(UInt32(s * 1_000_000)) }

/// A value behind a mutex, shareable with threads (a local Mutex cannot be
/// captured by an escaping closure).
final class Locked<T: Sendable>: Sendable {
    let mutex: Guarded<T>
    init(_ value: T) { mutex = Guarded(value) }
    func callAsFunction<R>(_ body: (inout T) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: T { mutex.withLock { $0 } }
}

// A failed expectation reflects the values it names; the controller holds
// noncopyable stores that reflection cannot copy (it traps). Shown as
// leaves instead.
extension ControllerHarness: CustomReflectable {
    var customMirror: Mirror { Mirror(self, children: [:]) }
}

extension VirtualController: CustomReflectable {
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
