#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CEvaFFI
import EAPI
import Synchronization

/// The launcher as a `ServiceHost`: every operation is an op-function call
/// with the buffer layout of ABI version 1.
///
/// Logging: during `svc_init` the launcher drops log ops, so messages go to
/// stderr (`[level] message`); from then on they go to the bus
/// (`LOG/IN/<level>`), filtered by `core.log_level` before crossing the ABI.
///
/// Calls that would hang a node: while a lifecycle callback runs on the
/// launcher's thread, an RPC call from that thread is refused with
/// NOT_READY and a message saying why (`EAPIError.wouldHangNode`) when
/// `initial.workers` <= 1: EVA ICS 4.2 runs such a service on one thread,
/// which cannot serve the bus while it is inside the callback, so the call
/// would never return. In `svc_init` every RPC call is refused (no bus
/// yet). A call from ANOTHER thread while `svc_terminate` runs (workers <=
/// 1) fails at once with NOT_READY: the stop usually joins that thread, and
/// the node could not serve the call before the stop ends. One while
/// `svc_prepare` or `svc_launch` runs (workers <= 1) is held until the callback returns,
/// as the node holds it: harmless unless the callback waits for that thread
/// (join, semaphore, a lock it holds), a deadlock that hangs the node. The
/// host bounds the wait by the time the node gives the callback
/// (`timeout.startup`, or `timeout.shutdown` for svc_terminate) and then
/// fails the call with TIMEOUT and a message naming the likely deadlock.
/// Start threads that use the bus in `launch` and never wait for their
/// calls inside a callback.
public final class FFIHost: ServiceHost {
    /// What the host does with an RPC call that would hang a one-worker node.
    public enum HangingCallPolicy: UInt8, Sendable {
        /// Refuse it (the default).
        case refuse = 0
        /// Log a warning and make it anyway: only for a service that is
        /// being moved off such calls and is tested with more workers.
        case warn = 1
    }

    enum Phase: UInt8 {
        /// `svc_init` runs: the bus is not connected, logs go to stderr.
        case starting = 0
        /// Bus ops work.
        case connected = 1
        /// `svc_terminate` has returned: the library makes no more op calls.
        case closed = 2
    }

    let ops: OpFunctionSlot
    private let phase = Atomic<UInt8>(Phase.starting.rawValue)
    private let logLevel = Atomic<UInt8>(LogLevel.info.rawValue)
    private let workers = Atomic<UInt32>(1)
    private let hangingCalls = Atomic<UInt8>(HangingCallPolicy.refuse.rawValue)
    private let refusalLevel = Atomic<UInt8>(LogLevel.debug.rawValue)
    private let failureLevel = Atomic<UInt8>(LogLevel.warn.rawValue)
    /// The lifecycle callback in progress (index + 1; 0 = none) and the
    /// thread it runs on.
    private let callback = Atomic<UInt8>(0)
    private let callbackThread = Atomic<UInt>(0)
    /// How long the node lets a callback run, in nanoseconds: the bound of
    /// another thread's wait for it.
    private let startupLimit = Atomic<UInt64>(5_000_000_000)
    private let shutdownLimit = Atomic<UInt64>(5_000_000_000)

    /// The per-thread contexts' key (read once, not per op).
    private let contextKey: pthread_key_t

    public init(ops: OpFunctionSlot) {
        self.ops = ops
        contextKey = ThreadContext.key
    }

    func setPhase(_ p: Phase) { phase.store(p.rawValue, ordering: .releasing) }
    public func setLogLevel(_ level: LogLevel) { logLevel.store(level.rawValue, ordering: .relaxed) }
    /// `initial.workers` (the runtime sets it before the service's init).
    public func setWorkers(_ n: UInt32) { workers.store(n, ordering: .relaxed) }
    /// `initial.timeout` (the runtime sets it before the service's init).
    public func setTimeouts(_ t: InitialPayload.Timeouts) {
        startupLimit.store(Self.nanoseconds(t.startup), ordering: .relaxed)
        shutdownLimit.store(Self.nanoseconds(t.shutdown), ordering: .relaxed)
    }

    private static func nanoseconds(_ s: Double) -> UInt64 {
        s.isFinite && s > 0 ? UInt64(min(s, 1e9) * 1e9) : 0
    }

    /// Set it in the service's init to change what happens to a hanging call.
    public var hangingCallPolicy: HangingCallPolicy {
        get { HangingCallPolicy(rawValue: hangingCalls.load(ordering: .relaxed)) ?? .refuse }
        set { hangingCalls.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// The levels the runtime logs an error thrown by `handleCall` or
    /// `handleFrame` at (debug for expected refusals, warn for the rest, by
    /// default); an error's own `logLevel` comes first. Set it in the
    /// service's init.
    public var errorLogLevels: ErrorLogLevels {
        get {
            ErrorLogLevels(refusal: LogLevel(rawValue: refusalLevel.load(ordering: .relaxed)) ?? .debug,
                           failure: LogLevel(rawValue: failureLevel.load(ordering: .relaxed)) ?? .warn)
        }
        set {
            refusalLevel.store(newValue.refusal.rawValue, ordering: .relaxed)
            failureLevel.store(newValue.failure.rawValue, ordering: .relaxed)
        }
    }

    /// Logs an error a handler threw: `what` (the call or frame) and the
    /// error's name and message, at the level `errorLogLevels` gives it.
    func logHandlerError(_ error: EAPIError, _ what: () -> String) {
        let level = errorLogLevels.level(for: error)
        guard isLogged(level) else { return }
        write(log: level, "\(what()): \(error.name)\(error.message.isEmpty ? "" : ": \(error.message)")")
    }

    /// Runs a lifecycle callback, marking the calling thread as inside it.
    func inCallback<R, E: Error>(_ which: LifecycleCallback, _ body: () throws(E) -> R) throws(E) -> R {
        let index = UInt8(LifecycleCallback.allCases.firstIndex(of: which)! + 1)
        callbackThread.store(UInt(pthread_self()), ordering: .releasing)
        callback.store(index, ordering: .releasing)
        defer {
            callback.store(0, ordering: .releasing)
            callbackThread.store(0, ordering: .releasing)
        }
        return try body()
    }

    /// Runs `body` as if inside `callback` on this thread: for tests of code
    /// that must behave inside lifecycle callbacks.
    public func inCallbackForTests<R>(_ callback: LifecycleCallback, _ body: () -> R) -> R {
        inCallback(callback, body)
    }

    public var lifecycleCallback: LifecycleCallback? {
        let index = callback.load(ordering: .acquiring)
        guard index != 0, callbackThread.load(ordering: .acquiring) == UInt(pthread_self()) else { return nil }
        return LifecycleCallback.allCases[Int(index) - 1]
    }

    /// Refuses (or warns about) an RPC call that would never return; holds
    /// another thread's call while a callback runs, as a one-worker node does.
    private func checkHangingCall(_ target: String, _ method: String) throws(EAPIError) {
        let index = callback.load(ordering: .acquiring)
        guard index != 0 else { return }
        let what = "RPC call \(target) \(method)"
        guard let which = lifecycleCallback else {
            try holdWhileCallbackRuns(what, LifecycleCallback.allCases[Int(index) - 1])
            return
        }
        if which == .initialize { throw .wouldHangNode(what, in: which) }
        guard workers.load(ordering: .relaxed) <= 1 else { return }
        if hangingCallPolicy == .refuse { throw .wouldHangNode(what, in: which) }
        log(.warn, "\(what) made on the launcher's thread inside \(which.rawValue) would hang an EVA ICS 4.2 node running this service with workers: 1; made anyway (hangingCallPolicy .warn)")
    }

    /// Another thread's call during a callback on a one-worker node: wait
    /// for the callback to return, at most as long as the node lets it run.
    private func holdWhileCallbackRuns(_ what: String, _ which: LifecycleCallback) throws(EAPIError) {
        guard which != .initialize, workers.load(ordering: .relaxed) <= 1, hangingCallPolicy == .refuse else { return }
        // svc_terminate usually joins the service's threads: a call held
        // there would deadlock the stop, so it fails at once.
        if which == .terminate {
            throw EAPIError(.notReady, "\(what): the service is stopping, and a one-worker node serves no bus call until svc_terminate returns")
        }
        let limit = which == .terminate
            ? shutdownLimit.load(ordering: .relaxed) : startupLimit.load(ordering: .relaxed)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let start = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        while callback.load(ordering: .acquiring) != 0 {
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
            if now &- start >= limit { throw .heldByCallback(what, in: which, waited: Double(limit) / 1e9) }
            usleep(1000)
        }
    }

    private var currentPhase: Phase { Phase(rawValue: phase.load(ordering: .acquiring)) ?? .closed }

    /// Calls the op function unless the library is past `svc_terminate`.
    private func op(_ code: Int16, _ buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int32 {
        if currentPhase == .closed { return Int32(EAPIErrorCode.notReady.rawValue) }
        return ops.call(code, buffer)
    }

    /// Calls `code` with the thread's scratch bytes as the buffer, filled by
    /// `fill` (the bytes stay valid for the op call only).
    private func opWithScratch(_ code: Int16, _ fill: (MsgPackWriter) -> Void) -> Int32 {
        ThreadContext.with(key: contextKey) { context in
            let scratch = context.scratch
            scratch.reset()
            fill(scratch)
            let bytes = scratch.bytes
            var buffer = EvaFFIBuffer(
                len: bytes.count,
                data: bytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0).assumingMemoryBound(to: CChar.self) },
                max: bytes.count)
            return op(code, &buffer)
        }
    }

    private static func check(_ rc: Int32) throws(EAPIError) {
        if rc < 0 { throw EAPIError(rawCode: Int16(truncatingIfNeeded: rc)) }
    }

    private static func checkName(_ s: String, _ what: String) throws(EAPIError) {
        var s = s
        let nul = s.withUTF8 { b in b.count > 0 && memchr(b.baseAddress!, 0, b.count) != nil }
        if nul { throw .invalidParams("\(what) contains a NUL byte") }
    }

    public func publish(topic: String, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        try Self.checkName(topic, "topic")
        var topic = topic
        let rc = topic.withUTF8 { t in publishRC(UnsafeRawBufferPointer(t), payload) }
        try Self.check(rc)
    }

    public func publish(topicBytes: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        if let base = topicBytes.baseAddress, memchr(base, 0, topicBytes.count) != nil {
            throw .invalidParams("topic contains a NUL byte")
        }
        try publishChecked(topicBytes, payload)
    }

    private func publishChecked(_ topic: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) throws(EAPIError) {
        try Self.check(publishRC(topic, payload))
    }

    private func publishRC(_ topic: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Int32 {
        opWithScratch(FFIOp.publish) { b in
            // topic, NUL, payload: one reservation, three copies
            let total = topic.count + 1 + payload.count
            let out = b.reserve(total)
            if let t = topic.baseAddress { out.copyMemory(from: t, byteCount: topic.count) }
            out.storeBytes(of: 0, toByteOffset: topic.count, as: UInt8.self)
            if let p = payload.baseAddress { (out + topic.count + 1).copyMemory(from: p, byteCount: payload.count) }
            b.commit(total)
        }
    }

    private static var nul: UnsafeRawBufferPointer {
        let s: StaticString = "\0"
        return UnsafeRawBufferPointer(start: s.utf8Start, count: 1)
    }

    private static func appendUTF8(_ s: String, _ b: MsgPackWriter) {
        var s = s
        s.withUTF8 { b.packRaw(UnsafeRawBufferPointer($0)) }
    }

    public func subscribe(_ topics: [String]) throws(EAPIError) {
        try topicOp(FFIOp.subscribe, topics)
    }

    public func unsubscribe(_ topics: [String]) throws(EAPIError) {
        try topicOp(FFIOp.unsubscribe, topics)
    }

    private func topicOp(_ code: Int16, _ topics: [String]) throws(EAPIError) {
        guard !topics.isEmpty else { return }
        for t in topics { try Self.checkName(t, "topic") }
        try Self.check(opWithScratch(code) { b in
            for t in topics {
                Self.appendUTF8(t, b)
                b.packRaw(Self.nul)
            }
        })
    }

    public func call(target: String, method: String, params: [UInt8]?) throws(EAPIError) -> [UInt8]? {
        try Self.checkName(target, "target")
        try Self.checkName(method, "method")
        try checkHangingCall(target, method)
        let size = opWithScratch(FFIOp.rpcCall) { b in
            Self.appendUTF8(target, b)
            b.packRaw(Self.nul)
            Self.appendUTF8(method, b)
            b.packRaw(Self.nul)
            if let params { params.withUnsafeBytes { b.packRaw($0) } }
        }
        try Self.check(size)
        guard size > 0 else { return nil }
        return try fetchRPCResult(size: Int(size))
    }

    /// GET_RPC_RESULT, right after the RPC_CALL on the same thread.
    ///
    /// The ABI text says the launcher writes into the caller's buffer; the
    /// shipped launcher instead repoints `data`/`len`/`max` at its own copy.
    /// Either way the result is `len` bytes at whatever `data` points to
    /// afterwards, and only our own allocation is ours to free.
    private func fetchRPCResult(size: Int) throws(EAPIError) -> [UInt8] {
        var own = [UInt8](repeating: 0, count: size)
        var repointed: [UInt8]?
        var length = 0
        let rc: Int32 = own.withUnsafeMutableBytes { raw in
            let ownData = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            var buffer = EvaFFIBuffer(len: 0, data: ownData, max: size)
            let rc = op(FFIOp.getRPCResult, &buffer)
            guard rc == 0 else { return rc }
            if buffer.data == ownData {
                length = min(buffer.len, size)
            } else if let data = buffer.data, buffer.len > 0 {
                repointed = Array(UnsafeRawBufferPointer(start: data, count: buffer.len))
            } else {
                repointed = []
            }
            return rc
        }
        try Self.check(rc)
        if let repointed { return repointed }
        own.removeSubrange(length...)
        return own
    }

    public func isLogged(_ level: LogLevel) -> Bool {
        let current = logLevel.load(ordering: .relaxed)
        return level != .off && current != LogLevel.off.rawValue && level.rawValue >= current
    }

    public func write(log level: LogLevel, _ message: String) {
        guard let code = FFIOp.log(level) else { return }
        switch currentPhase {
        case .starting:
            // Bus logging is muted until the launcher connects the bus.
            writeStandardError("[\(level)] \(message)\n")
        case .connected:
            // NUL-terminated, as the ABI text asks (the launcher drops one trailing NUL)
            _ = opWithScratch(code) { Self.appendUTF8(message, $0); $0.packRaw(Self.nul) }
        case .closed:
            return
        }
    }

    public var isActive: Bool { op(FFIOp.isActive, nil) == 1 }

    public func terminate() { _ = op(FFIOp.terminate, nil) }

    /// Asks the launcher to log `message` as critical and end the process.
    public func panic(_ message: String) {
        _ = opWithScratch(FFIOp.poc) { Self.appendUTF8(message, $0); $0.packRaw(Self.nul) }
    }
}

/// Writes straight to fd 2: used where the bus is not there to log to.
func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
