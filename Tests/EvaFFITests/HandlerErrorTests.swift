import CEvaFFI
import EAPI
import EvaFFI
import Synchronization
import Testing

/// What the spelling services saw, one line per callback.
let spellingLog = Mutex<[String]>([])

struct Broken: Error, CustomStringConvertible {
    var description: String { "the widget broke" }
}

/// Every requirement in the spelling an author may write instead of the
/// protocol's own: non-throwing, `throws(EAPIError)`, `throws(AnyError)`.
/// Each must be the witness the runtime calls (no default to fall back on).
final class MixedSpellingService: FFIService {
    init(initial: InitialPayload, host: FFIHost) { spellingLog.withLock { $0.append("init") } }
    let info = ServiceInfo(author: "tests", version: "0", description: "spelling")
    static let handlesCallsBeforeReady = false
    func prepare() { spellingLog.withLock { $0.append("prepare") } }
    func launch() throws(Broken) { spellingLog.withLock { $0.append("launch") } }
    func terminate() throws(EAPIError) { spellingLog.withLock { $0.append("terminate") } }
    func handleCall(_ call: RPCCall, reply: MsgPackWriter) { spellingLog.withLock { $0.append("call") } }
    func handleFrame(_ frame: BusFrame) throws(EAPIError) { spellingLog.withLock { $0.append("frame") } }
}

/// Throws what its config and each call ask for: config `fail: [step...]`
/// makes those lifecycle steps throw; methods name the error.
final class FaultyService: FFIService {
    let failing: [String]
    init(initial: InitialPayload, host: FFIHost) throws {
        failing = initial.config["fail"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if failing.contains("init") { throw Broken() }
        if let refusal = initial.config["refusal_level"]?.stringValue, refusal == "info" {
            host.errorLogLevels = ErrorLogLevels(refusal: .info, failure: .error)
        }
    }
    var info: ServiceInfo { ServiceInfo(author: "tests", version: "0", description: "faulty") }
    static var handlesCallsBeforeReady: Bool { false }
    func prepare() throws { if failing.contains("prepare") { throw EAPIError(.io, "disk gone") } }
    func launch() throws { if failing.contains("launch") { throw Broken() } }
    func terminate() throws { if failing.contains("terminate") { throw EAPIError(.timeout, "a thread did not stop") } }

    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws {
        switch call.methodName {
        case "refuse": throw EAPIError.invalidParams("value 500 is out of range 0..100")
        case "fail": throw Broken()
        case "quiet": throw EAPIError.notFound("nobody hears this").logged(at: .off)
        case "loud": throw EAPIError.notFound("unit:a/b").logged(at: .error)
        case "bare": throw EAPIError.methodNotFound()
        default: reply.packString("ok")
        }
    }

    func handleFrame(_ frame: BusFrame) throws {
        throw EAPIError.invalidData("payload is not a state")
    }
}

/// The log ops the fake launcher received: (level, text without the NUL).
func loggedLines() -> [(LogLevel, String)] {
    launcher.withLock { s in
        s.ops.compactMap { op in
            guard let level = LogLevel.allCases.first(where: { FFIOp.log($0) == op.op }) else { return nil }
            return (level, String(decoding: op.bytes.filter { $0 != 0 }, as: UTF8.self))
        }
    }
}

func sendFrame<S: FFIService>(_ runtime: FFIServiceRuntime<S>, topic: String, sender: String) {
    var senderBytes = Array(sender.utf8CString)
    var topicBytes = Array(topic.utf8CString)
    var payload: [CChar] = [0x01]
    senderBytes.withUnsafeMutableBufferPointer { s in
        topicBytes.withUnsafeMutableBufferPointer { t in
            payload.withUnsafeMutableBufferPointer { p in
                var frame = EvaFFIFrame(kind: 0x01, primary_sender: s.baseAddress, topic: t.baseAddress,
                                        payload_size: 1, payload: p.baseAddress)
                runtime.handleFrame(&frame)
            }
        }
    }
}

extension HostTests {
    func faultyRuntime(_ config: MsgPackValue) -> (FFIServiceRuntime<FaultyService>, Int32) {
        launcher.withLock { $0 = LauncherState() }
        let runtime = FFIServiceRuntime<FaultyService>()
        _ = runtime.setOpFunction(abiVersion: 1, fakeOpFunction)
        return (runtime, initialize(runtime, initialPayload(config: config), prepare: false))
    }

    @Test func everySpellingOfEveryRequirementIsTheOneCalled() {
        spellingLog.withLock { $0.removeAll() }
        launcher.withLock { $0 = LauncherState() }
        let runtime = FFIServiceRuntime<MixedSpellingService>()
        _ = runtime.setOpFunction(abiVersion: 1, fakeOpFunction)
        #expect(initialize(runtime, initialPayload()) > 0)
        #expect(runtime.launch() == 0)
        #expect(call(runtime, "x", nil).0 == 0)
        sendFrame(runtime, topic: "a/b", sender: "eva.core")
        #expect(runtime.terminate() == 0)
        #expect(spellingLog.withLock { $0 } == ["init", "prepare", "launch", "call", "frame", "terminate"])
    }

    @Test func aRefusedCallIsLoggedWithItsMethodCodeAndMessageAtDebug() {
        let (runtime, rc) = faultyRuntime(.map(MsgPackMap()))
        #expect(rc > 0)
        #expect(runtime.prepare() == 0)
        #expect(call(runtime, "refuse", nil, sender: "my.client").0 == Int32(EAPIErrorCode.invalidParams.rawValue))
        let lines = loggedLines()
        #expect(lines.count == 1)
        #expect(lines.first?.0 == .debug)
        #expect(lines.first?.1 == #"call "refuse" from my.client: INVALID_PARAMS (-32602): value 500 is out of range 0..100"#)
    }

    @Test func anErrorOfAnotherTypeIsFuncFailedLoggedAtWarnWithItsText() {
        let (runtime, _) = faultyRuntime(.map(MsgPackMap()))
        #expect(runtime.prepare() == 0)
        #expect(call(runtime, "fail", nil).0 == Int32(EAPIErrorCode.funcFailed.rawValue))
        let lines = loggedLines()
        #expect(lines.count == 1)
        #expect(lines.first?.0 == .warn)
        #expect(lines.first?.1 == #"call "fail" from eva.core: FUNC_FAILED (-32010): the widget broke (Broken, not an EAPIError)"#)
    }

    @Test func anErrorsOwnLevelAndTheHostsLevelsAreHonoured() {
        let (runtime, _) = faultyRuntime(.map(MsgPackMap()))
        #expect(runtime.prepare() == 0)
        #expect(call(runtime, "quiet", nil).0 == Int32(EAPIErrorCode.notFound.rawValue))
        #expect(call(runtime, "loud", nil).0 == Int32(EAPIErrorCode.notFound.rawValue))
        #expect(call(runtime, "bare", nil).0 == Int32(EAPIErrorCode.methodNotFound.rawValue))
        #expect(call(runtime, "ok", nil).0 > 0)
        #expect(loggedLines().map(\.0) == [.error, .debug])
        #expect(loggedLines().map(\.1) == [#"call "loud" from eva.core: NOT_FOUND (-32001): unit:a/b"#,
                                           #"call "bare" from eva.core: METHOD_NOT_FOUND (-32601)"#])

        let (chosen, _) = faultyRuntime(["refusal_level": "info"])
        #expect(chosen.prepare() == 0)
        _ = call(chosen, "refuse", nil)
        _ = call(chosen, "fail", nil)
        #expect(loggedLines().map(\.0) == [.info, .error])
    }

    @Test func refusalsBelowTheCoreLevelCrossNoABI() {
        launcher.withLock { $0 = LauncherState() }
        let runtime = FFIServiceRuntime<FaultyService>()
        _ = runtime.setOpFunction(abiVersion: 1, fakeOpFunction)
        let payload = MsgPackValue.map(["version": 4, "id": "test.svc", "config": .map(MsgPackMap()),
                                        "core": ["log_level": .int(Int64(LogLevel.info.rawValue))], "workers": 1,
                                        "timeout": ["startup": 5, "default": 5]]).encoded()
        #expect(initialize(runtime, payload) > 0)
        _ = call(runtime, "refuse", nil)
        _ = call(runtime, "fail", nil)
        #expect(loggedLines().map(\.0) == [.warn])
    }

    @Test func aFrameHandlersErrorIsLoggedWithTheTopic() {
        let (runtime, _) = faultyRuntime(.map(MsgPackMap()))
        sendFrame(runtime, topic: "RAW/sensor/x", sender: "eva.core")
        #expect(loggedLines().map(\.1) == [#"publish frame on "RAW/sensor/x" from eva.core: INVALID_DATA (-32009): payload is not a state"#])
    }

    @Test func lifecycleErrorsAreAnsweredAndLoggedAtError() {
        let (prep, _) = faultyRuntime(["fail": ["prepare"]])
        #expect(prep.prepare() == EAPIErrorCode.io.rawValue)
        #expect(call(prep, "ok", nil).0 == Int32(EAPIErrorCode.notReady.rawValue))
        #expect(loggedLines().map(\.1) == ["svc_prepare failed: IO (-32016): disk gone"])
        let (launch, _) = faultyRuntime(["fail": ["launch", "terminate"]])
        #expect(launch.prepare() == 0)
        #expect(launch.launch() == EAPIErrorCode.funcFailed.rawValue)
        #expect(launch.terminate() == EAPIErrorCode.timeout.rawValue)
        #expect(loggedLines().map(\.0) == [.error, .error])
        #expect(loggedLines().map(\.1) == ["svc_launch failed: FUNC_FAILED (-32010): the widget broke (Broken, not an EAPIError)",
                                           "svc_terminate failed: TIMEOUT (-32008): a thread did not stop"])
        let (initFails, rc) = faultyRuntime(["fail": ["init"]])
        #expect(rc == Int32(EAPIErrorCode.funcFailed.rawValue))
        #expect(initFails.prepare() == EAPIErrorCode.notReady.rawValue)
    }
}
