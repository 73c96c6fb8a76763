#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mutex with a condition variable, waiting on CLOCK_MONOTONIC.
///
/// `Synchronization.Mutex` has no way to wait for a change (and on Linux
/// ThreadSanitizer cannot see it), and a service's threads must sleep until
/// work arrives or a deadline passes. The SDK's `StopFlag` and
/// `ServiceThreads` are built on it, and so is the virtual controller.
/// Unchecked Sendable: the pthread objects live at a fixed heap address and
/// every access to the state they guard goes through `lock`/`withLock`.
public final class Condition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        cond = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits with the lock held; spurious wake-ups happen, so loop on the
    /// condition you wait for.
    public func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits until `deadline` (MonotonicClock nanoseconds) at the latest.
    /// Returns false when the deadline passed.
    @discardableResult
    public func wait(untilNanoseconds deadline: UInt64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex, &ts) == 0
    }

    /// Waits (lock held) until `done` holds or `deadline` (`monotonicSeconds`)
    /// passes; a deadline past ~30 years waits without a timeout (and keeps
    /// the nanoseconds in range).
    func wait(untilSeconds deadline: Double, _ done: () -> Bool) {
        while !done() {
            let now = monotonicSeconds()
            if now >= deadline { return }
            if deadline.isInfinite || deadline - now > 1e9 {
                wait()
            } else {
                var ts = timespec()
                clock_gettime(CLOCK_MONOTONIC, &ts)
                let ns = Int64((deadline - now) * 1e9) + Int64(ts.tv_nsec)
                ts.tv_sec += Int(ns / 1_000_000_000)
                ts.tv_nsec = Int(ns % 1_000_000_000)
                pthread_cond_timedwait(cond, mutex, &ts)
            }
        }
    }

    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }
}
