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
    var scratch: [UInt8] = []

    init() { scratch.reserveCapacity(256) }

    /// The calling thread's context, created on first use and released when
    /// the thread exits.
    public static var current: ThreadContext {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<ThreadContext>.fromOpaque(raw).takeUnretainedValue()
        }
        let context = ThreadContext()
        pthread_setspecific(key, Unmanaged.passRetained(context).toOpaque())
        return context
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<ThreadContext>.fromOpaque(raw).release() }
        }
        precondition(rc == 0, "pthread_key_create failed")
        return key
    }()
}
