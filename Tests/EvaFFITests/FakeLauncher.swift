import CEvaFFI
import EAPI
import EvaFFI
import Synchronization

/// A launcher op function for tests. A C function pointer cannot capture
/// context, so what it records lives in one global, and the tests that use
/// it run serialised.
struct LauncherState {
    enum ResultMode { case copy, swap }
    var ops: [(op: Int16, bytes: [UInt8])] = []
    var rpcResult: [UInt8]? = nil
    var rpcError: Int32 = 0
    var resultMode = ResultMode.copy
    var active: Int32 = 1
    var publishAnswer: Int32 = 0
}

let launcher = Mutex(LauncherState())

/// The launcher's own copy in swap mode; it outlives the call, as the real one does.
nonisolated(unsafe) let swapStorage = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 8)

let fakeOpFunction: FFIOpFunction = { op, buffer in
    let bytes: [UInt8] = buffer.flatMap { b in
        b.pointee.data.map { Array(UnsafeRawBufferPointer(start: $0, count: b.pointee.len)) }
    } ?? []
    return launcher.withLock { s -> Int32 in
        if op != FFIOp.getRPCResult { s.ops.append((op, bytes)) }
        switch op {
        case FFIOp.isActive: return s.active
        case FFIOp.publish: return s.publishAnswer
        case FFIOp.rpcCall:
            if s.rpcError != 0 { return s.rpcError }
            return Int32(s.rpcResult?.count ?? 0)
        case FFIOp.getRPCResult:
            guard let buffer, let result = s.rpcResult else { return -32001 }
            switch s.resultMode {
            case .copy:
                guard buffer.pointee.max >= result.count else { return -32011 }
                result.withUnsafeBytes { src in
                    UnsafeMutableRawPointer(buffer.pointee.data!).copyMemory(from: src.baseAddress!, byteCount: src.count)
                }
                buffer.pointee.len = result.count
            case .swap:
                result.withUnsafeBytes { swapStorage.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                buffer.pointee.data = swapStorage.assumingMemoryBound(to: CChar.self)
                buffer.pointee.len = result.count
                buffer.pointee.max = result.count
            }
            return 0
        default: return 0
        }
    }
}

/// A service that echoes: method `echo` returns its payload, `size` returns a
/// string of the requested length, `boom` fails with NOT_FOUND.
final class EchoService: FFIService {
    let host: FFIHost
    init(initial: InitialPayload, host: FFIHost) throws(EAPIError) {
        guard initial.config["refuse"] == nil else { throw .invalidParams("refused") }
        self.host = host
    }
    var info: ServiceInfo { ServiceInfo(author: "tests", version: "0", description: "echo") }
    static var handlesCallsBeforeReady: Bool { false }
    func prepare() throws(EAPIError) {}
    func launch() throws(EAPIError) {}
    func terminate() {}
    func handleFrame(_ frame: BusFrame) {}
    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws(EAPIError) {
        let payload = call.payload
        switch call.methodName {
        case "echo": if let payload { reply.packRaw(payload) }
        case "size":
            let n = try payload.map { (p: UnsafeRawBufferPointer) throws(EAPIError) in try MsgPackValue(decoding: p) }?.int64Value ?? 0
            reply.packString(String(repeating: "x", count: Int(n)))
        case "boom": throw .notFound()
        default: throw .methodNotFound()
        }
    }
}

func initialPayload(config: MsgPackValue = .map(MsgPackMap()), workers: Int64 = 1, startup: Double = 5) -> [UInt8] {
    MsgPackValue.map(["version": 4, "id": "test.svc", "config": config, "core": ["log_level": 0],
                      "workers": .int(workers), "timeout": ["startup": .double(startup), "default": 5]]).encoded()
}

/// Calls `svc_init` on a runtime and returns its result code; then, unless
/// `prepare` is false, `svc_prepare` when init succeeded (calls reach the
/// service only after it).
func initialize<S: FFIService>(_ runtime: FFIServiceRuntime<S>, _ bytes: [UInt8], prepare: Bool = true) -> Int32 {
    var bytes = bytes
    let rc = bytes.withUnsafeMutableBytes { raw in
        var buffer = EvaFFIBuffer(len: raw.count, data: raw.baseAddress!.assumingMemoryBound(to: CChar.self), max: raw.count)
        return runtime.initialize(&buffer)
    }
    if rc > 0, prepare { _ = runtime.prepare() }
    return rc
}

/// One RPC call as the launcher makes it: on_rpc_call, then get_result with
/// a buffer of exactly the returned size, on the same thread.
func call<S: FFIService>(_ runtime: FFIServiceRuntime<S>, _ method: String, _ payload: [UInt8]?,
                         sender: String = "eva.core") -> (Int32, [UInt8]) {
    var method = Array(method.utf8)
    var payload = payload ?? []
    let rc = method.withUnsafeMutableBytes { m in
        payload.withUnsafeMutableBytes { p in
            var senderBytes = Array(sender.utf8CString)
            return senderBytes.withUnsafeMutableBufferPointer { sb in
            var event = EvaFFIRpcEvent(primary_sender: sb.baseAddress, method_size: m.count,
                                       method: m.baseAddress?.assumingMemoryBound(to: CChar.self),
                                       payload_size: p.count, payload: p.baseAddress?.assumingMemoryBound(to: CChar.self))
            return runtime.handleCall(&event)
            }
        }
    }
    guard rc > 0 else { return (rc, []) }
    var out = [UInt8](repeating: 0, count: Int(rc))
    let got = out.withUnsafeMutableBytes { raw in
        var buffer = EvaFFIBuffer(len: 0, data: raw.baseAddress!.assumingMemoryBound(to: CChar.self), max: raw.count)
        return runtime.getResult(&buffer)
    }
    return got == 0 ? (rc, out) : (Int32(got), [])
}
