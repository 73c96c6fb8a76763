import EAPI
import Synchronization
import Testing
@testable import VirtualController

@Suite struct DispatchTests {
    static let controllerMethods = [
        "list", "get", "set", "var.get", "var.set", "var.set_bulk", "var.destroy", "var.list",
        "action", "run", "terminate", "kill",
    ]

    @Test func everyMethodIsNotReadyBeforePrepare() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:x"]], prepare: false)
        for method in Self.controllerMethods {
            #expect(h.code(method, ["i": "sensor:x"]) == .notReady, "\(method)")
            #expect(h.code(method) == .notReady, "\(method)")
        }
        try h.controller.prepare()
        #expect(try h.get("sensor:x")?["status"] == 1)
    }

    @Test func serviceMethodsWorkBeforePrepare() throws {
        let h = try ControllerHarness(prepare: false)
        #expect(try h.call("test") == nil)
        #expect(try h.call("info")?["methods"] != nil)
        #expect(h.host.state.withLock { $0.terminateRequested } == false)
        #expect(try h.call("stop") == nil)
        #expect(h.host.state.withLock { $0.terminateRequested })
    }

    @Test func testAnswersNoPayload() throws {
        let h = try ControllerHarness()
        #expect(try h.call("test") == nil)
    }

    @Test func infoListsEveryMethodWithItsParams() throws {
        let h = try ControllerHarness()
        let info = try #require(try h.call("info"))
        #expect(info["author"]?.stringValue?.isEmpty == false)
        #expect(info["version"]?.stringValue?.isEmpty == false)
        #expect(info["description"]?.stringValue?.isEmpty == false)
        let methods = try #require(info["methods"]?.mapValue)
        for m in Self.controllerMethods + ["test", "info", "stop"] {
            #expect(methods[m]?["description"]?.stringValue != nil, "\(m)")
        }
        #expect(methods["get"]?["params"] == ["i": ["required": true]])
        #expect(methods["set"]?["params"] == [
            "i": ["required": true], "status": ["required": false], "value": ["required": false],
        ])
        #expect(methods["var.set"]?["params"] == ["i": ["required": true], "value": ["required": true]])
        #expect(methods["var.list"]?["params"] == ["full": ["required": false]])
        #expect(methods["list"]?["params"] == .map(MsgPackMap()))
        #expect(methods["kill"]?["params"] == ["i": ["required": true]])
        #expect(info == VirtualController.info.value)
    }

    @Test func stopAsksTheHostToTerminate() throws {
        let h = try ControllerHarness()
        try h.call("stop")
        #expect(h.host.state.withLock { $0.terminateRequested })
        #expect(!h.host.isActive)
    }

    static let unknownMethods: [[UInt8]] = [
        [], Array("GET".utf8), Array("get ".utf8), Array("get\0".utf8), [0x67, 0x65],
        [0xFF, 0xFE, 0x00], Array("var.".utf8), Array("var.get.x".utf8), Array("svc.info".utf8),
        Array(repeating: 0x61, count: 4096), Array("lis\u{0}t".utf8),
    ]

    @Test(arguments: unknownMethods)
    func unknownMethodIsMethodNotFound(name: [UInt8]) throws {
        let before = try ControllerHarness(prepare: false)
        #expect(before.codeRaw(name, nil) == .methodNotFound)
        let h = try ControllerHarness()
        #expect(h.codeRaw(name, nil) == .methodNotFound)
        #expect(h.codeRaw(name, (["i": "x"] as MsgPackValue).encoded()) == .methodNotFound)
    }

    static let garbage: [[UInt8]] = [
        [0xC1],                                   // never used
        [0x81],                                   // map, nothing inside
        [0x81, 0xA1, 0x69],                       // map, key only
        [0xA5, 0x61],                             // truncated str
        [0x92, 0x01],                             // truncated array
        [0xDF, 0xFF, 0xFF, 0xFF, 0xFF],           // map32 claiming 4G entries
        [0xDD, 0x7F, 0xFF, 0xFF, 0xFF, 0x01],     // array32, one element present
        [0xDB, 0xFF, 0xFF, 0xFF, 0xFF, 0x61],     // str32 far past the end
        [0xC7, 0x05, 0x01],                       // truncated ext
        [0xCB, 0x00],                             // truncated float64
        [0x80, 0x80],                             // two values
        [0x01, 0x02, 0x03],                       // two extra bytes
        Array(repeating: 0x91, count: 100_000),   // nesting bomb
        Array(repeating: 0xFF, count: 64),        // a run of negative fixints
    ]

    @Test(arguments: garbage)
    func garbagePayloadIsInvalidDataForEveryMethod(payload: [UInt8]) throws {
        let h = try ControllerHarness(config: ["items": ["sensor:x"], "vars": ["v": 1], "auto_create": true])
        for method in Self.controllerMethods {
            // `list` takes no payload at all: any is INVALID_PARAMS, as in the shipped controller.
            let expected: EAPIErrorCode = method == "list" ? .invalidParams : .invalidData
            #expect(h.codeRaw(Array(method.utf8), payload) == expected, "\(method) \(payload.prefix(8))")
        }
        // Still answering.
        #expect(try h.get("sensor:x")?["status"] == 1)
        #expect(try h.varGet("v") == 1)
    }

    @Test func notAMapIsInvalidData() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:x"]])
        for method in ["get", "set", "var.get", "var.set", "var.set_bulk", "var.destroy", "var.list"] {
            for payload in [.nil, 1, "sensor:x", ["sensor:x"], true, .binary([1])] as [MsgPackValue] {
                #expect(h.code(method, payload) == .invalidData, "\(method) \(payload)")
            }
        }
    }

    @Test func noPayloadWhereParamsAreRequiredIsInvalidParams() throws {
        let h = try ControllerHarness()
        for method in ["get", "set", "var.get", "var.set", "var.set_bulk", "var.destroy"] {
            #expect(h.code(method) == .invalidParams, "\(method)")
            // An empty buffer counts as no payload.
            #expect(h.codeRaw(Array(method.utf8), []) == .invalidParams, "\(method)")
        }
    }

    @Test func actionMethodsReachTheEngine() throws {
        // Valid MessagePack goes to the engine: whatever it answers, it is
        // not NOT_READY, METHOD_NOT_FOUND or the decoder's INVALID_PARAMS
        // for a well-formed payload shape it validates itself.
        let h = try ControllerHarness(config: ["items": ["unit:u1"]])
        for method in ["action", "run", "terminate", "kill"] {
            let code = h.code(method, ["i": "unit:u1"])
            #expect(code != .notReady && code != .methodNotFound, "\(method)")
        }
    }

    @Test func afterTerminateWritesAreNotReadyReadsWork() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:x"], "vars": ["v": 1]])
        h.controller.terminate()
        #expect(h.code("set", ["i": "sensor:x", "value": 1]) == .notReady)
        #expect(h.code("var.set", ["i": "v", "value": 2]) == .notReady)
        #expect(h.code("var.set_bulk", ["i": ["v"], "values": [2]]) == .notReady)
        #expect(h.code("var.destroy", ["i": "v"]) == .notReady)
        #expect(try h.get("sensor:x")?["status"] == 1)
        #expect(try h.varGet("v") == 1)
        // stop after terminate makes no host call.
        try h.call("stop")
        #expect(h.host.state.withLock { $0.terminateRequested } == false)
        #expect(h.host.frames.isEmpty)
    }

    @Test func prepareTwiceIsHarmless() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:x"]])
        try h.controller.prepare()
        #expect(try h.get("sensor:x")?["status"] == 1)
        #expect(h.registryCalls == ["key_get"])
    }

    @Test func terminateWithoutLaunchAndTwice() throws {
        let h = try ControllerHarness()
        h.controller.terminate()
        h.controller.terminate()
        try h.controller.launch()  // after terminate: nothing starts
        h.controller.terminate()
        #expect(try h.call("list") == [])
    }
}

/// A host whose publishes block until the test opens a gate.
final class GatedHost: ServiceHost {
    let inner = RecordingHost()
    let gate = Condition()
    let state = Guarded((open: false, waiting: 0))

    func open() {
        gate.withLock {
            state.withLock { $0.open = true }
            gate.broadcast()
        }
    }

    func publish(topic: String, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        gate.withLock {
            state.withLock { $0.waiting += 1 }
            while !state.withLock({ $0.open }) { gate.wait() }
        }
        try inner.publish(topic: topic, payload: payload)
    }
    func subscribe(_ topics: [String]) throws(EAPIError) { try inner.subscribe(topics) }
    func unsubscribe(_ topics: [String]) throws(EAPIError) { try inner.unsubscribe(topics) }
    func call(target: String, method: String, params: [UInt8]?) throws(EAPIError) -> [UInt8]? {
        try inner.call(target: target, method: method, params: params)
    }
    func isLogged(_ level: LogLevel) -> Bool { inner.isLogged(level) }
    func write(log level: LogLevel, _ message: String) { inner.write(log: level, message) }
    var isActive: Bool { inner.isActive }
    func terminate() { inner.terminate() }
}

@Suite struct TerminateDrainTests {
    /// A call already inside the controller when terminate begins finishes
    /// (and its write is persisted) before terminate returns.
    @Test func terminateWaitsForCallsInFlight() throws {
        let host = GatedHost()
        let vc = try VirtualController(
            initial: try ControllerHarness.initial(config: ["items": ["sensor:x"], "persist_interval": 0]),
            host: host)
        try vc.prepare()
        let setDone = Locked(false)
        let caller = JoinableThread {
            let payload = (["i": "sensor:x", "value": 5] as MsgPackValue).encoded()
            let result = payload.withUnsafeBytes { p in
                Array("set".utf8).withUnsafeBytes { m in
                    Result { () throws(EAPIError) in try vc.handleCall(method: m, payload: p, reply: MsgPackWriter()) }
                }
            }
            #expect((try? result.get()) != nil)
            setDone { $0 = true }
        }!
        #expect(waitUntil { host.state.withLock { $0.waiting } == 1 })
        let terminated = Locked(false)
        let stopper = JoinableThread {
            vc.terminate()
            terminated { $0 = true }
        }!
        sleepSeconds(0.1)
        #expect(!terminated.value, "terminate returned while a call was still inside")
        host.open()
        caller.join()
        stopper.join()
        #expect(setDone.value && terminated.value)
        #expect(host.inner.frames(topic: "RAW/sensor/x").map(\.payload) == [["status": 1, "value": 5]])
    }
}
