#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CEvaFFI
import EAPI
import Synchronization

/// Everything behind the ABI exports, for one service type. A library keeps
/// one in a global and forwards each `@_cdecl` export to it.
public final class FFIServiceRuntime<Service: FFIService>: Sendable {
    public let ops = OpFunctionSlot()
    public let host: FFIHost
    /// Set once by `svc_init`; read on every call, so atomic rather than locked.
    /// (The retained object's address bits; 0 = none.)
    private let serviceSlot = Atomic<UInt>(0)
    /// `svc_prepare` has returned OK: calls reach the service from here on
    /// (unless it takes them earlier, `handlesCallsBeforeReady`).
    private let ready = Atomic<Bool>(false)
    /// The per-thread contexts' key, read once here rather than through a
    /// lazy global on every call.
    private let contextKey: pthread_key_t

    public init() {
        host = FFIHost(ops: ops)
        contextKey = ThreadContext.key
    }

    /// A library's runtime lives as long as the process; one made per test or
    /// fuzz input gives back the service `svc_init` retained.
    deinit {
        let bits = serviceSlot.load(ordering: .acquiring)
        if bits != 0, let raw = UnsafeRawPointer(bitPattern: bits) {
            Unmanaged<Service>.fromOpaque(raw).release()
        }
    }

    private var service: Service? {
        let bits = serviceSlot.load(ordering: .acquiring)
        guard bits != 0, let raw = UnsafeRawPointer(bitPattern: bits) else { return nil }
        return Unmanaged<Service>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The service, borrowed (the runtime keeps it retained from `svc_init`
    /// on): calls and frames from many threads change no reference count,
    /// so they share no cache line written per call.
    @inline(__always)
    private func withService<R>(orElse fallback: R, _ body: (Service) -> R) -> R {
        let bits = serviceSlot.load(ordering: .acquiring)
        guard bits != 0, let raw = UnsafeRawPointer(bitPattern: bits) else { return fallback }
        return Unmanaged<Service>.fromOpaque(raw)._withUnsafeGuaranteedRef(body)
    }

    /// `eva_svc_set_op_fn`
    public func setOpFunction(abiVersion: UInt16, _ fn: FFIOpFunction?) -> Int16 {
        guard abiVersion == EVA_FFI_ABI_VERSION else { return EAPIErrorCode.unsupported.rawValue }
        ops.store(fn)
        return Int16(EVA_OK)
    }

    /// `eva_svc_get_result`
    public func getResult(_ buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int16 {
        ThreadContext.with(key: contextKey) { copyPendingResult(of: $0, into: buffer) }
    }

    /// `svc_init`: decodes the initial payload, creates the service, leaves the
    /// encoded service info as this thread's result and returns its size.
    public func initialize(_ buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int32 {
        let context = ThreadContext.current
        context.result.reset()
        guard serviceSlot.load(ordering: .acquiring) == 0 else {
            return report(EAPIError(.alreadyExists, "svc_init called twice"))
        }
        guard let buffer, let data = buffer.pointee.data else {
            return report(.invalidParams("no initial payload"))
        }
        do {
            let initial = try InitialPayload(decoding: UnsafeRawBufferPointer(start: data, count: buffer.pointee.len))
            host.setLogLevel(initial.core.logLevel)
            host.setWorkers(initial.workers)
            host.setTimeouts(initial.timeout)
            let service = try host.inCallback(.initialize) { () throws in
                try Service(initial: initial, host: host)
            }
            let raw = Unmanaged.passRetained(service).toOpaque()
            guard serviceSlot.compareExchange(expected: 0, desired: UInt(bitPattern: raw),
                                              ordering: .acquiringAndReleasing).exchanged
            else {
                Unmanaged<Service>.fromOpaque(raw).release()
                return report(EAPIError(.alreadyExists, "svc_init called twice"))
            }
            context.result.pack(service.info.value)
            // From here on the launcher has the bus up.
            host.setPhase(.connected)
            return pendingResultSize(context.result)
        } catch {
            return report(EAPIError(converting: error))
        }
    }

    /// Errors of `svc_init` cannot be logged on the bus: stderr, then the code.
    private func report(_ error: EAPIError) -> Int32 {
        writeStandardError("svc_init: \(error.name)\(error.message.isEmpty ? "" : ": \(error.message)")\n")
        return Int32(error.rawCode)
    }

    /// `svc_prepare`
    public func prepare() -> Int16 {
        guard let service else { return EAPIErrorCode.notReady.rawValue }
        let rc = lifecycleStep(.prepare) { try service.prepare() }
        if rc == Int16(EVA_OK) { ready.store(true, ordering: .releasing) }
        return rc
    }

    /// `svc_launch`
    public func launch() -> Int16 {
        guard let service else { return EAPIErrorCode.notReady.rawValue }
        return lifecycleStep(.launch) { try service.launch() }
    }

    /// `svc_terminate`: after it returns the host makes no op calls at all,
    /// even from a thread the service failed to join.
    public func terminate() -> Int16 {
        defer { host.setPhase(.closed) }
        guard let service else { return Int16(EVA_OK) }
        return lifecycleStep(.terminate) { try service.terminate() }
    }

    /// Runs one of prepare, launch, terminate. An error is answered with its
    /// code, which ends the launcher at once: so it is logged at error and
    /// written to stderr too (the EVA ICS 4.2 launcher exits before its bus
    /// logger sends the line; the node keeps the process's stderr).
    private func lifecycleStep(_ which: LifecycleCallback, _ body: () throws -> Void) -> Int16 {
        do {
            try host.inCallback(which, body)
            return Int16(EVA_OK)
        } catch {
            let e = EAPIError(converting: error)
            let text = "\(which.rawValue) failed: \(e.name)\(e.message.isEmpty ? "" : ": \(e.message)")"
            host.log(.error, text)
            writeStandardError(text + "\n")
            return e.rawCode
        }
    }

    /// `svc_on_rpc_call`
    public func handleCall(_ event: UnsafeMutablePointer<EvaFFIRpcEvent>?) -> Int32 {
        ThreadContext.with(key: contextKey) { context in
            let reply = context.result
            reply.reset()
            guard let event else { return Int32(EAPIErrorCode.invalidRequest.rawValue) }
            let e = event.pointee
            let method = e.method_size > 0 && e.method != nil
                ? UnsafeRawBufferPointer(start: e.method, count: e.method_size)
                : UnsafeRawBufferPointer(start: nil, count: 0)
            let payload = e.payload_size > 0 && e.payload != nil
                ? UnsafeRawBufferPointer(start: e.payload, count: e.payload_size) : nil
            let call = RPCCall(method: method, payload: payload, senderCString: e.primary_sender)
            return withService(orElse: Int32(EAPIErrorCode.notReady.rawValue)) { service in
                // `test` and `info` as the launcher answers them (it never
                // passes them on; a harness calling the library directly may).
                if method.count == 4 {
                    if call.method(is: "test") { return 0 }
                    if call.method(is: "info") {
                        reply.pack(service.info.value)
                        return pendingResultSize(reply)
                    }
                }
                // Calls arrive as soon as the bus is up, before svc_prepare.
                if !Service.handlesCallsBeforeReady, !ready.load(ordering: .acquiring) {
                    return Int32(EAPIErrorCode.notReady.rawValue)
                }
                do {
                    try service.handleCall(call, reply: reply)
                    return pendingResultSize(reply)
                } catch {
                    reply.reset()
                    // The launcher answers the code alone: the text goes to the log.
                    let e = EAPIError(converting: error)
                    host.logHandlerError(e) { "call \(call.methodName.debugDescription) from \(call.sender)" }
                    return Int32(e.rawCode)
                }
            }
        }
    }

    /// `svc_on_frame`
    public func handleFrame(_ frame: UnsafeMutablePointer<EvaFFIFrame>?) {
        guard let frame else { return }
        let f = frame.pointee
        let payload = f.payload_size > 0 && f.payload != nil
            ? UnsafeRawBufferPointer(start: f.payload, count: f.payload_size) : UnsafeRawBufferPointer(start: nil, count: 0)
        let busFrame = BusFrame(kind: FrameKind(rawValue: f.kind), senderCString: f.primary_sender,
                                topic: Self.cString(f.topic), payload: payload)
        withService(orElse: ()) { service in
            do {
                try service.handleFrame(busFrame)
            } catch {
                host.logHandlerError(EAPIError(converting: error)) {
                    "\(busFrame.kind) frame\(busFrame.topicBytes.isEmpty ? "" : " on \(busFrame.topic.debugDescription)") from \(busFrame.sender)"
                }
            }
        }
    }

    /// A NUL-terminated string of the launcher's, as bytes (empty for null).
    @inline(__always)
    static func cString(_ p: UnsafeMutablePointer<CChar>?) -> UnsafeRawBufferPointer {
        guard let p else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: p, count: strlen(p))
    }
}
