#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value behind a pthread mutex: `Synchronization.Mutex` with the same
/// `withLock` shape, for one reason. On Linux, `Mutex` locks inside the
/// uninstrumented `libswiftSynchronization`, so ThreadSanitizer cannot see
/// its ordering and reports every guarded access as a race; pthread mutexes
/// are intercepted, so TSan runs stay meaningful. The cost is the same
/// futex fast path (glibc's mutex is an atomic exchange when uncontended).
public final class Guarded<Value: ~Copyable> {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Unchecked exclusivity: every access is under the mutex, and the
    /// dynamic check (a thread-local lookup per access) costs more than the
    /// lock on the hot path.
    @exclusivity(unchecked) private var value: Value

    public init(_ value: consuming Value) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, the lock held. Keep it short; never call
    /// out to code that may take this lock again (it does not recurse).
    @inline(__always)
    public func withLock<Result: ~Copyable, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

// Unchecked: `value` is only reached through `withLock`, under the mutex.
extension Guarded: @unchecked Sendable where Value: Sendable & ~Copyable {}
