#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI

/// Per-thread state of the ABI layer: the result of the last call made on
/// this thread (what `eva_svc_get_result` hands out) and a scratch buffer for
/// op calls. Thread-local because the launcher calls from many threads at
/// once, and each must fetch its own result.
public final class ThreadContext {
    /// The pending result; empty means the last call had no payload.
    public let result = MsgPackWriter()
    /// Bytes of an op buffer being built (topic + NUL + payload, ...).
    let scratch = MsgPackWriter()

    init() {}

    /// The calling thread's context, created on first use and released when
    /// the thread exits.
    public static var current: ThreadContext {
        Unmanaged<ThreadContext>.fromOpaque(currentPointer(key)).takeUnretainedValue()
    }

    /// Runs `body` with the calling thread's context, borrowed: no reference
    /// count changes (the pthread key keeps the context alive for as long as
    /// its thread runs). The hot path of every call; `key` comes from the
    /// caller so that no lazy-global check is made per call.
    @inline(__always)
    static func with<R, E: Error>(key: pthread_key_t, _ body: (ThreadContext) throws(E) -> R) throws(E) -> R {
        let context = Unmanaged<ThreadContext>.fromOpaque(currentPointer(key))
        // _withUnsafeGuaranteedRef cannot carry a typed throw: the result is
        // passed out as a Result.
        let result: Result<R, E> = context._withUnsafeGuaranteedRef { c in
            do throws(E) { return .success(try body(c)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    @inline(__always)
    private static func currentPointer(_ key: pthread_key_t) -> UnsafeMutableRawPointer {
        if let raw = pthread_getspecific(key) { return raw }
        return makeCurrent(key)
    }

    @inline(never)
    private static func makeCurrent(_ key: pthread_key_t) -> UnsafeMutableRawPointer {
        let raw = Unmanaged.passRetained(ThreadContext()).toOpaque()
        pthread_setspecific(key, raw)
        return raw
    }

    /// The process-wide key of the contexts (one per thread, whichever
    /// runtime asks).
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<ThreadContext>.fromOpaque(raw).release() }
        }
        precondition(rc == 0, "pthread_key_create failed")
        return key
    }()
}
