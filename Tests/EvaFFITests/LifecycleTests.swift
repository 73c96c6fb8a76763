import CEvaFFI
import EAPI
import EvaFFI
import Synchronization
import Testing

/// What ProbeService saw, one line per event.
let probeLog = Mutex<[String]>([])
/// Threads ProbeService starts and does not wait for (`spawn`).
let probeThreads = Mutex<ServiceThreads>(ServiceThreads())

/// A service that makes the bus calls its config asks for inside each
/// lifecycle callback: `rpc` (an RPC call from the callback's thread),
/// `thread` (one from another thread the callback joins), `core`
/// (`coreActive()`), and records calls' senders and frames' kinds.
final class ProbeService: FFIService {
    let host: FFIHost
    let actions: [String: [String]]

    init(initial: InitialPayload, host: FFIHost) throws(EAPIError) {
        self.host = host
        var actions: [String: [String]] = [:]
        for entry in initial.config.mapValue?.entries ?? [] {
            if let k = entry.key.stringValue { actions[k] = entry.value.arrayValue?.compactMap(\.stringValue) ?? [] }
        }
        self.actions = actions
        probe(.initialize)
    }

    var info: ServiceInfo { ServiceInfo(author: "tests", version: "0", description: "probe") }
    static var handlesCallsBeforeReady: Bool { false }
    func prepare() throws(EAPIError) { probe(.prepare) }
    func launch() throws(EAPIError) { probe(.launch) }
    func terminate() { probe(.terminate) }

    func probe(_ callback: LifecycleCallback) {
        for action in actions[callback.rawValue] ?? [] {
            let outcome: String
            switch action {
            case "thread":
                let threads = ServiceThreads()
                let result = Mutex("")
                try? threads.spawn { [host] in
                    result.withLock { $0 = Self.outcome { () throws(EAPIError) in _ = try host.call(target: "eva.core", method: "test", params: nil as MsgPackValue?) } }
                }
                threads.joinAll()
                outcome = result.withLock { $0 }
            case "spawn":
                // a call from a thread the callback does not wait for; the
                // callback returns 50 ms later
                let threads = probeThreads.withLock { $0 }
                try? threads.spawn { [host] in
                    let outcome = Self.outcome { () throws(EAPIError) in _ = try host.call(target: "eva.core", method: "test", params: nil as MsgPackValue?) }
                    probeLog.withLock { $0.append("\(callback.rawValue) spawned call: \(outcome)") }
                }
                _ = StopFlag().sleep(0.05)
                outcome = "returning"
            case "core":
                outcome = Self.outcome { () throws(EAPIError) in _ = try host.coreActive() }
            default:
                outcome = Self.outcome { () throws(EAPIError) in _ = try host.call(target: "eva.core", method: "test", params: nil as MsgPackValue?) }
            }
            probeLog.withLock { $0.append("\(callback.rawValue) \(action): \(outcome)") }
        }
    }

    static func outcome(_ body: () throws(EAPIError) -> Void) -> String {
        do throws(EAPIError) {
            try body()
            return "ok"
        } catch {
            return "\(error.name) \(error.message)"
        }
    }

    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws(EAPIError) {
        probeLog.withLock { $0.append("call \(call.methodName) from \(call.sender)") }
        reply.packString(call.sender)
    }

    func handleFrame(_ frame: BusFrame) {
        probeLog.withLock { $0.append("frame \(frame.kind) \(frame.topic) from \(frame.sender), \(frame.payload.count) bytes") }
    }
}

extension HostTests {
    /// Runs a whole lifecycle of ProbeService with `config`; returns the
    /// probe log and the launcher's op codes.
    func lifecycle(_ config: MsgPackValue, workers: Int64, startup: Double = 5) -> (log: [String], ops: [Int16]) {
        launcher.withLock { $0 = LauncherState() }
        probeLog.withLock { $0.removeAll() }
        probeThreads.withLock { $0 = ServiceThreads() }
        let runtime = FFIServiceRuntime<ProbeService>()
        _ = runtime.setOpFunction(abiVersion: 1, fakeOpFunction)
        #expect(initialize(runtime, initialPayload(config: config, workers: workers, startup: startup)) > 0)
        #expect(runtime.launch() == 0)
        #expect(probeThreads.withLock { $0 }.joinAll(timeout: 10))
        #expect(runtime.terminate() == 0)
        return (probeLog.withLock { $0 }, launcher.withLock { $0.ops.map(\.op) })
    }

    @Test func oneWorkerRefusesRPCFromTheLauncherThreadInEveryCallback() {
        let config: MsgPackValue = ["svc_init": ["rpc"], "svc_prepare": ["rpc"], "svc_launch": ["rpc"], "svc_terminate": ["rpc"]]
        let (log, ops) = lifecycle(config, workers: 1)
        #expect(log.count == 4)
        #expect(log[0].hasPrefix("svc_init rpc: NOT_READY (-32005) RPC call eva.core test in svc_init: the bus is not connected"))
        for (line, callback) in zip(log.dropFirst(), ["svc_prepare", "svc_launch", "svc_terminate"]) {
            #expect(line.hasPrefix("\(callback) rpc: NOT_READY (-32005) RPC call eva.core test refused"))
            #expect(line.contains("inside \(callback), it would hang an EVA ICS 4.2 node running this service with workers: 1"))
        }
        #expect(!ops.contains(FFIOp.rpcCall))
    }

    @Test func twoWorkersLetRPCThroughButNotTheCoreWait() {
        let config: MsgPackValue = ["svc_init": ["rpc"], "svc_prepare": ["rpc", "core"], "svc_launch": ["rpc", "core"]]
        let (log, ops) = lifecycle(config, workers: 2)
        #expect(log.count == 5)
        #expect(log[0].hasPrefix("svc_init rpc: NOT_READY"))
        #expect(log[1] == "svc_prepare rpc: ok")
        #expect(log[2].hasPrefix("svc_prepare core: NOT_READY (-32005) coreActive() (RPC eva.core test) refused"))
        #expect(log[3] == "svc_launch rpc: ok")
        #expect(log[4].hasPrefix("svc_launch core: NOT_READY"))
        #expect(ops.filter { $0 == FFIOp.rpcCall }.count == 2)
    }

    /// A callback that waits for a thread's RPC call deadlocks a one-worker
    /// node (the node holds the call until the callback returns): the call
    /// fails after the time the node gives the callback, with a message
    /// naming the deadlock, instead of hanging.
    @Test func aCallTheCallbackWaitsForFailsClearlyInsteadOfHanging() {
        let (log, ops) = lifecycle(["svc_prepare": ["thread"]], workers: 1, startup: 0.2)
        #expect(log.count == 1)
        #expect(log.first?.hasPrefix("svc_prepare thread: TIMEOUT (-32008) RPC call eva.core test from another thread waited 0.2 s for svc_prepare to return") == true)
        #expect(log.first?.contains("does svc_prepare wait for this thread? That hangs an EVA ICS 4.2 node") == true)
        #expect(!ops.contains(FFIOp.rpcCall))
    }

    /// A thread's call during a callback that does not wait for it is held
    /// until the callback returns, then made (as a one-worker node does).
    @Test func aCallFromAnotherThreadIsHeldUntilTheCallbackReturns() {
        let (log, ops) = lifecycle(["svc_launch": ["spawn"]], workers: 1)
        #expect(log == ["svc_launch spawn: returning", "svc_launch spawned call: ok"])
        #expect(ops.filter { $0 == FFIOp.rpcCall }.count == 1)
    }

    /// At a stop nothing is held: svc_terminate usually joins the service's
    /// threads, so another thread's call fails at once instead of
    /// deadlocking the stop of a one-worker node.
    @Test func aCallFromAnotherThreadDuringTerminateFailsAtOnce() {
        let (log, ops) = lifecycle(["svc_terminate": ["thread"]], workers: 1)
        #expect(log.count == 1)
        #expect(log.first?.hasPrefix("svc_terminate thread: NOT_READY (-32005) RPC call eva.core test: the service is stopping") == true)
        #expect(!ops.contains(FFIOp.rpcCall))
    }

    /// With two workers nothing is held: the joined thread's call goes through.
    @Test func twoWorkersDoNotHoldOtherThreads() {
        let (log, ops) = lifecycle(["svc_prepare": ["thread"]], workers: 2)
        #expect(log == ["svc_prepare thread: ok"])
        #expect(ops.filter { $0 == FFIOp.rpcCall }.count == 1)
    }

    @Test func warnPolicyMakesTheCallAndLogs() {
        launcher.withLock { $0 = LauncherState() }
        let runtime = FFIServiceRuntime<EchoService>()
        _ = runtime.setOpFunction(abiVersion: 1, fakeOpFunction)
        #expect(initialize(runtime, initialPayload(), prepare: false) > 0)
        runtime.host.hangingCallPolicy = .warn
        launcher.withLock { $0.ops.removeAll() }
        let rc = runtime.host.inCallbackForTests(.prepare) {
            ProbeService.outcome { () throws(EAPIError) in
                _ = try runtime.host.call(target: "eva.core", method: "test", params: nil as MsgPackValue?)
            }
        }
        #expect(rc == "ok")
        let ops = launcher.withLock { $0.ops }
        #expect(ops.map(\.op) == [130, FFIOp.rpcCall])
        #expect(String(decoding: ops[0].bytes, as: UTF8.self).contains("would hang an EVA ICS 4.2 node"))
    }

    @Test func callsCarryTheSenderAndFramesTheirKind() throws {
        launcher.withLock { $0 = LauncherState() }
        probeLog.withLock { $0.removeAll() }
        let runtime = FFIServiceRuntime<ProbeService>()
        _ = runtime.setOpFunction(abiVersion: 1, fakeOpFunction)
        #expect(initialize(runtime, initialPayload(), prepare: false) > 0)
        // before svc_prepare: NOT_READY, but test and info are answered
        #expect(call(runtime, "hello", nil).0 == -32005)
        #expect(call(runtime, "test", nil).0 == 0)
        let (size, info) = call(runtime, "info", nil)
        #expect(size > 0)
        #expect(try MsgPackValue(decoding: info)["description"] == "probe")
        #expect(runtime.prepare() == 0)
        let (_, reply) = call(runtime, "hello", nil, sender: "eva.svc.client1")
        #expect(try MsgPackValue(decoding: reply) == "eva.svc.client1")
        var sender = Array("eva.core".utf8CString)
        var topic = Array("RAW/sensor/a".utf8CString)
        var payload: [CChar] = [0x01]
        sender.withUnsafeMutableBufferPointer { s in
            topic.withUnsafeMutableBufferPointer { t in
                payload.withUnsafeMutableBufferPointer { p in
                    var frame = EvaFFIFrame(kind: 0x01, primary_sender: s.baseAddress, topic: t.baseAddress,
                                            payload_size: 1, payload: p.baseAddress)
                    runtime.handleFrame(&frame)
                    frame.kind = 0x12
                    frame.topic = nil
                    runtime.handleFrame(&frame)
                }
            }
        }
        #expect(probeLog.withLock { $0 } == [
            "call hello from eva.svc.client1",
            "frame publish RAW/sensor/a from eva.core, 1 bytes",
            "frame message  from eva.core, 1 bytes",
        ])
        #expect(runtime.terminate() == 0)
    }
}
