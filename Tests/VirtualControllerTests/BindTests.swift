import EAPI
import Synchronization
import Testing
@testable import VirtualController

@Suite struct BindTests {
    static let config: MsgPackValue = [
        "bind": ["door": "unit:plant/door", "door_copy": "unit:plant/door", "regs[2]": "sensor:plant/t1"],
        "vars": ["regs": [0, 0, 0, 0]],
    ]

    func state(_ status: Int64, _ value: MsgPackValue?) -> [UInt8] {
        var m: MsgPackMap = ["status": .int(status), "t": 1.5, "ieid": [1, 2]]
        if let value { m["value"] = value }
        return MsgPackValue.map(m).encoded()
    }

    @Test func subscribesToExactlyTheBoundTopics() throws {
        let h = try ControllerHarness(config: Self.config)
        #expect(h.host.subscriptions == [
            "ST/LOC/unit/plant/door", "ST/REM/unit/plant/door", "ST/LOC/sensor/plant/t1", "ST/REM/sensor/plant/t1",
        ])
    }

    @Test func noBindNoSubscription() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a"]])
        #expect(h.host.subscriptions.isEmpty)
    }

    @Test func notSubscribedBeforePrepare() throws {
        let h = try ControllerHarness(config: Self.config, prepare: false)
        #expect(h.host.subscriptions.isEmpty)
        try h.controller.prepare()
        #expect(h.host.subscriptions.count == 4)
    }

    @Test func localAndRemoteStateFramesSetTheBoundVariables() throws {
        let h = try ControllerHarness(config: Self.config)
        h.frame(topic: "ST/LOC/unit/plant/door", payload: state(1, "open"))
        #expect(try h.varGet("door") == "open")
        #expect(try h.varGet("door_copy") == "open")
        h.frame(topic: "ST/REM/sensor/plant/t1", payload: state(1, 21.5))
        #expect(try h.varGet("regs") == [0, 0, 21.5, 0])
        // An explicit nil value sets nil.
        h.frame(topic: "ST/REM/unit/plant/door", payload: state(-1, .nil))
        #expect(try h.varGet("door") == .some(.nil))
    }

    @Test func otherFramesAreIgnored() throws {
        let h = try ControllerHarness(config: Self.config)
        h.frame(topic: "ST/RAR/unit/plant/door", payload: state(1, "x"))
        h.frame(topic: "ST/LOC/unit/plant/window", payload: state(1, "x"))
        h.frame(topic: "RAW/unit/plant/door", payload: state(1, "x"))
        h.frame(topic: "ST/LOC/", payload: state(1, "x"))
        h.frame(topic: "ST/LOC", payload: state(1, "x"))
        h.frame(topic: "", payload: [])
        h.frame(topic: "ST/LOC/unit/plant/door/x", payload: state(1, "x"))
        #expect(h.code("var.get", ["i": "door"]) == .notFound)
        #expect(h.logs(.warn).isEmpty)
    }

    @Test func stateWithoutValueLeavesTheVariable() throws {
        let h = try ControllerHarness(config: Self.config)
        h.frame(topic: "ST/LOC/sensor/plant/t1", payload: state(1, nil))
        #expect(try h.varGet("regs") == [0, 0, 0, 0])
    }

    static let badPayloads: [[UInt8]] = [
        [], [0xC1], [0x05], [0xC0], (["a", "b"] as MsgPackValue).encoded(),
        (["value": 5] as MsgPackValue).encoded(),               // no status
        (["status": "ok", "value": 5] as MsgPackValue).encoded(),
        (["status": 70000, "value": 5] as MsgPackValue).encoded(),
        [0x82, 0xA6] + Array("status".utf8),                    // truncated
        Array(repeating: 0x91, count: 50_000),
    ]

    @Test(arguments: badPayloads)
    func nonStatePayloadIsIgnoredWithAWarning(payload: [UInt8]) throws {
        let h = try ControllerHarness(config: Self.config)
        h.frame(topic: "ST/LOC/sensor/plant/t1", payload: payload)
        #expect(try h.varGet("regs") == [0, 0, 0, 0])
        #expect(h.logs(.warn).contains { $0.contains("ST/LOC/sensor/plant/t1") })
    }

    @Test func bindWritesThatFailAreWarned() throws {
        let h = try ControllerHarness(config: ["bind": ["s[1]": "sensor:x"], "vars": ["s": "scalar"]])
        h.frame(topic: "ST/LOC/sensor/x", payload: state(1, 5))
        #expect(try h.varGet("s") == "scalar")
        #expect(h.logs(.warn).contains { $0.contains("s[1]") })
    }

    @Test func framesBeforePrepareAreIgnored() throws {
        let h = try ControllerHarness(config: Self.config, prepare: false)
        h.frame(topic: "ST/LOC/unit/plant/door", payload: state(1, "open"))
        try h.controller.prepare()
        h.controller.loadVariablesNow()
        #expect(h.code("var.get", ["i": "door"]) == .notFound)
    }

    @Test func aFailedSubscriptionFailsPrepare() throws {
        let host = SubscribeFailureHost(busy: 0, then: EAPIError(.accessDenied))
        let vc = try VirtualController(initial: try ControllerHarness.initial(config: Self.config), host: host)
        #expect(throws: EAPIError(.accessDenied)) { try vc.prepare() }
        let result = (["i": "door"] as MsgPackValue).encoded().withUnsafeBytes { p in
            Array("var.get".utf8).withUnsafeBytes { m in
                Result { () throws(EAPIError) in try vc.handleCall(method: m, payload: p, reply: MsgPackWriter()) }
            }
        }
        #expect(throws: EAPIError(.notReady)) { try result.get() }
    }

    @Test func subscribeRetriesWhileTheQueueIsFull() throws {
        let host = SubscribeFailureHost(busy: 3, then: nil)
        let vc = try VirtualController(initial: try ControllerHarness.initial(config: Self.config), host: host)
        try vc.prepare()
        #expect(host.attempts.withLock { $0 } == 4)
        #expect(host.inner.subscriptions.count == 4)
    }
}

/// A host whose subscriptions answer BUSY `busy` times, then `then`
/// (nil: they go through to a RecordingHost).
final class SubscribeFailureHost: ServiceHost {
    let inner = RecordingHost()
    let attempts = Guarded(0)
    let busy: Int
    let failure: EAPIError?

    init(busy: Int, then failure: EAPIError?) {
        self.busy = busy
        self.failure = failure
    }

    func publish(topic: String, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        try inner.publish(topic: topic, payload: payload)
    }
    func subscribe(_ topics: [String]) throws(EAPIError) {
        let n = attempts.withLock { n in
            n += 1
            return n
        }
        if n <= busy { throw .busy() }
        if let failure { throw failure }
        try inner.subscribe(topics)
    }
    func unsubscribe(_ topics: [String]) throws(EAPIError) {}
    func call(target: String, method: String, params: [UInt8]?) throws(EAPIError) -> [UInt8]? {
        try inner.call(target: target, method: method, params: params)
    }
    func isLogged(_ level: LogLevel) -> Bool { true }
    func write(log level: LogLevel, _ message: String) {}
    var isActive: Bool { true }
    func terminate() {}
}
