import CEvaFFI
import EAPI
import EvaFFI
import Testing

@Suite(.serialized) struct HostTests {
    func makeHost(connected: Bool = true) -> (FFIServiceRuntime<EchoService>, FFIHost) {
        launcher.withLock { $0 = LauncherState() }
        let runtime = FFIServiceRuntime<EchoService>()
        _ = runtime.setOpFunction(abiVersion: 1, fakeOpFunction)
        if connected { #expect(initialize(runtime, initialPayload()) > 0) }
        launcher.withLock { $0.ops.removeAll() }
        return (runtime, runtime.host)
    }

    var ops: [(op: Int16, bytes: [UInt8])] { launcher.withLock { $0.ops } }

    @Test func publishSendsTopicNulPayload() throws {
        let (_, host) = makeHost()
        try host.publish(topic: "RAW/sensor/a", value: ["status": 1])
        let op = try #require(ops.last)
        #expect(op.op == 12)
        #expect(op.bytes == Array("RAW/sensor/a".utf8) + [0] + MsgPackValue.map(["status": 1]).encoded())
        launcher.withLock { $0.publishAnswer = -32013 }
        #expect(throws: EAPIError.busy()) { try host.publish(topic: "x", value: 1) }
        #expect(throws: EAPIError.invalidParams()) { try host.publish(topic: "a\u{0}b", value: 1) }
    }

    @Test func subscribeSendsNulEndedTopics() throws {
        let (_, host) = makeHost()
        try host.subscribe(["ST/LOC/a", "ST/REM/a"])
        #expect(ops.last?.op == 10)
        #expect(ops.last?.bytes == Array("ST/LOC/a\u{0}ST/REM/a\u{0}".utf8))
        try host.unsubscribe(["x"])
        #expect(ops.last?.op == 11)
    }

    @Test(arguments: [LauncherState.ResultMode.copy, .swap])
    func rpcResultIsReadInBothLauncherModes(mode: LauncherState.ResultMode) throws {
        let (_, host) = makeHost()
        let expected: MsgPackValue = ["value": ["a": [1, 2, 3]], "s": .string(String(repeating: "z", count: 500))]
        launcher.withLock { $0.resultMode = mode; $0.rpcResult = expected.encoded() }
        let got = try host.call(target: "eva.registry", method: "key_get", params: ["key": "k"])
        #expect(got == expected)
        let sent = try #require(ops.first { $0.op == 20 })
        #expect(sent.bytes == Array("eva.registry\u{0}key_get\u{0}".utf8) + MsgPackValue.map(["key": "k"]).encoded())
    }

    @Test func rpcErrorsAndEmptyResults() throws {
        let (_, host) = makeHost()
        launcher.withLock { $0.rpcResult = nil }
        #expect(try host.call(target: "eva.core", method: "test", params: nil as MsgPackValue?) == nil)
        #expect(ops.last?.bytes == Array("eva.core\u{0}test\u{0}".utf8))
        launcher.withLock { $0.rpcError = -32113 }
        #expect(throws: EAPIError(.busClientNotRegistered)) {
            try host.call(target: "nobody", method: "x", params: nil as MsgPackValue?)
        }
    }

    @Test func logsAreFilteredAndMutedBeforeTheBus() {
        let (_, early) = makeHost(connected: false)
        early.log(.error, "to stderr, not the bus")
        #expect(ops.isEmpty)
        let (_, host) = makeHost()
        host.setLogLevel(.warn)
        host.log(.info, "dropped")
        host.log(.warn, "kept")
        #expect(ops.map(\.op) == [130])
        #expect(ops.first?.bytes == Array("kept".utf8) + [0])  // NUL-terminated, as the ABI text asks
        host.setLogLevel(.off)
        host.log(.error, "dropped too")
        #expect(ops.count == 1)
    }

    @Test func noOpCallsAfterTerminate() throws {
        let (runtime, host) = makeHost()
        #expect(host.isActive)
        #expect(runtime.terminate() == 0)
        launcher.withLock { $0.ops.removeAll() }
        #expect(throws: EAPIError.notReady()) { try host.publish(topic: "x", value: 1) }
        host.log(.error, "late")
        #expect(!host.isActive)
        #expect(ops.isEmpty)
    }
}
