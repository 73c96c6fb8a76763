#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CEvaFFI
import EAPI
import EvaFFI
import FuzzLauncher

/// The launcher's op function, typed as the ABI has it.
public let fuzzOpFunction: FFIOpFunction = {
    let fn: @convention(c) (Int16, UnsafeMutableRawPointer?) -> Int32 = fuzz_op
    return unsafeBitCast(fn, to: FFIOpFunction.self)
}()

/// One library lifetime driven the way the node's launcher drives it:
/// `eva_svc_set_op_fn`, `svc_init`, `svc_prepare`, `svc_launch`, calls and
/// frames, `svc_terminate`. Every buffer handed to the library is its own
/// exact-size allocation (so the address sanitizer sees any read past it),
/// and every answer is checked against the ABI: a violation aborts.
public final class Session {
    public let runtime = FFIServiceRuntime<FuzzControllerService>()
    public private(set) var ready = false
    private var closed = false
    /// The process's threads before the library started any.
    private let threadsBefore = Session.threadCount()

    public init() {
        fuzz_launcher_open()
        guard runtime.setOpFunction(abiVersion: 1, fuzzOpFunction) == 0 else {
            fuzz_violation("eva_svc_set_op_fn refused ABI version 1")
        }
    }

    deinit { close() }

    /// `svc_init` with these bytes; then `svc_prepare` and `svc_launch` when
    /// it succeeded. Returns svc_init's code.
    @discardableResult
    public func start(initial: UnsafeRawBufferPointer) -> Int32 {
        let rc = withExactCopy(initial) { data, count in
            var buffer = EvaFFIBuffer(len: count, data: data, max: count)
            return runtime.initialize(&buffer)
        }
        if rc < 0 {
            if fuzz_known_error(rc) == 0 { fuzz_violation("svc_init returned an unknown error code") }
            return rc
        }
        if rc == 0 { fuzz_violation("svc_init succeeded without service info") }
        guard let info = fetchResult(size: Int(rc)), fuzz_msgpack_is_map(info, Int(rc)) != 0 else {
            fuzz_violation("svc_init's service info is not a MessagePack map")
        }
        free(info)
        let prepared = runtime.prepare()
        if prepared != 0 {
            if fuzz_known_error(Int32(prepared)) == 0 { fuzz_violation("svc_prepare returned an unknown code") }
            return rc
        }
        let launched = runtime.launch()
        if launched != 0 {
            if fuzz_known_error(Int32(launched)) == 0 { fuzz_violation("svc_launch returned an unknown code") }
            return rc
        }
        ready = true
        return rc
    }

    /// Waits (at most `seconds`) until the launched controller's own thread
    /// has done its start-up work: the load, the registry catch-up, the
    /// first pull and the full state. True when it has.
    ///
    /// Why a shared controller waits: libFuzzer reads the coverage counters
    /// after each input and keeps an input that raised one. Start-up work
    /// left running in the background lands in whichever inputs follow, by
    /// timing, so they look new and are kept: the corpus then filled with
    /// inputs that restart the controller (`stop`), each restart costing
    /// ms, and throughput halved. Waiting puts that work, the same each
    /// time, in the input that restarted.
    @discardableResult
    public func waitUntilSettled(seconds: Int = 1) -> Bool {
        guard ready, let service = FuzzControllerService.latest else { return false }
        let until = monotonicNanoseconds() &+ UInt64(seconds) * 1_000_000_000
        while !service.settled {
            if monotonicNanoseconds() >= until { return false }
            usleep(20)
        }
        return true
    }

    /// `svc_on_rpc_call`; a reply is fetched with `eva_svc_get_result` and
    /// checked. Returns the call's code.
    @discardableResult
    public func call(method: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer?) -> Int32 {
        let rc = withExactCopy(method) { m, mCount in
            withExactCopy(payload ?? UnsafeRawBufferPointer(start: nil, count: 0)) { p, pCount in
                Self.sender.withUnsafeBufferPointer { sender in
                    var event = EvaFFIRpcEvent(
                        primary_sender: UnsafeMutablePointer(mutating: sender.baseAddress),
                        method_size: mCount, method: m, payload_size: pCount, payload: p)
                    return runtime.handleCall(&event)
                }
            }
        }
        if rc < 0 {
            if fuzz_known_error(rc) == 0 { fuzz_violation("svc_on_rpc_call returned an unknown error code") }
        } else if rc > 0 {
            guard let reply = fetchResult(size: Int(rc)) else { fuzz_violation("no reply") }
            if fuzz_msgpack_single(reply, Int(rc)) == 0 { fuzz_violation("a reply is not one MessagePack value") }
            free(reply)
        }
        return rc
    }

    /// `svc_on_frame` (the topic is cut at its first NUL, as a C string is).
    public func frame(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        let topicLength = topic.firstIndex(of: 0) ?? topic.count
        let t = malloc(topicLength + 1)!.assumingMemoryBound(to: CChar.self)
        if topicLength > 0 { memcpy(t, topic.baseAddress!, topicLength) }
        t[topicLength] = 0
        defer { free(t) }
        withExactCopy(payload) { p, count in
            Self.sender.withUnsafeBufferPointer { sender in
                var frame = EvaFFIFrame(
                    kind: 1, primary_sender: UnsafeMutablePointer(mutating: sender.baseAddress), topic: t,
                    payload_size: count, payload: p)
                runtime.handleFrame(&frame)
            }
        }
    }

    /// `svc_terminate`; from then on an op call from the library is a finding.
    public func close() {
        guard !closed else { return }
        closed = true
        _ = runtime.terminate()
        fuzz_launcher_close()
        waitForTheLibrarysThreads()
    }

    /// A thread the library may leave running past `svc_terminate` (with
    /// workers 1 the controller's thread, when it is inside a bus call the
    /// node would answer only after the stop) ends on its own right after;
    /// the input ends once it has (at most 2 s), so that a leak check
    /// right after does not count its thread-local data as leaked, and
    /// the next input does not race it.
    private func waitForTheLibrarysThreads() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let until = ts.tv_sec + 2
        while Self.threadCount() > threadsBefore {
            clock_gettime(CLOCK_MONOTONIC, &ts)
            if ts.tv_sec > until { return }
            usleep(50)
        }
    }

    /// The process's thread count: field 20 of /proc/self/stat (0 when
    /// unreadable). Read twice per input (fuzz-init makes a session per
    /// input), so it is parsed in place: /proc/self/status parsed line by
    /// line into Strings took 14% of fuzz-init's CPU.
    static func threadCount() -> Int {
        let fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { closeDescriptor(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buf -> Int in
            let n = read(fd, buf.baseAddress, buf.count)
            guard n > 0 else { return 0 }
            // after the command name (in parentheses, may hold anything):
            // ") state ppid ..." with num_threads the 18th field after it
            var at = n - 1
            while at >= 0, buf[at] != UInt8(ascii: ")") { at -= 1 }
            guard at >= 0 else { return 0 }
            var field = 0
            at += 1
            while at < n {
                if buf[at] == UInt8(ascii: " ") {
                    field += 1
                } else if field == 18 {
                    var value = 0
                    while at < n, buf[at] >= UInt8(ascii: "0"), buf[at] <= UInt8(ascii: "9") {
                        value = value * 10 + Int(buf[at] - UInt8(ascii: "0"))
                        at += 1
                    }
                    return value
                }
                at += 1
            }
            return 0
        }
    }

    private static let sender: [CChar] = Array("eva.core".utf8CString)

    /// `eva_svc_get_result` into a buffer of exactly `size` bytes, as the
    /// launcher does; the caller frees the bytes.
    private func fetchResult(size: Int) -> UnsafeMutablePointer<CChar>? {
        let data = malloc(size)!.assumingMemoryBound(to: CChar.self)
        var buffer = EvaFFIBuffer(len: size, data: data, max: size)
        let rc = runtime.getResult(&buffer)
        if rc != 0 { fuzz_violation("eva_svc_get_result failed after a positive return") }
        if buffer.len != size { fuzz_violation("eva_svc_get_result wrote another size than returned") }
        return data
    }
}

/// close(2) (inside Session, `close` names its own method).
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }

/// Runs `body` with a malloc'd copy of exactly `bytes.count` bytes (nil when
/// empty), so that reads past the end are caught.
func withExactCopy<R>(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeMutablePointer<CChar>?, Int) -> R) -> R {
    guard bytes.count > 0, let base = bytes.baseAddress else { return body(nil, 0) }
    let copy = malloc(bytes.count)!
    memcpy(copy, base, bytes.count)
    defer { free(copy) }
    return body(copy.assumingMemoryBound(to: CChar.self), bytes.count)
}
