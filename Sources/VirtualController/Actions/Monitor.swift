#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One pthread mutex with several condition variables (CLOCK_MONOTONIC), so
/// that unit workers, macro workers, the timer and shutdown each sleep on
/// their own condition while sharing the engine's single lock.
///
/// Unchecked Sendable: the pthread objects live at fixed heap addresses and are
/// only used through the pthread calls, which are thread-safe by contract.
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conds: UnsafeMutablePointer<pthread_cond_t>
    private let condCount: Int

    init(conditions: Int) {
        mutex = .allocate(capacity: 1)
        var mattr = pthread_mutexattr_t()
        pthread_mutexattr_init(&mattr)
        // Spin briefly before sleeping: the engine's critical sections are short.
        pthread_mutexattr_settype(&mattr, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &mattr)
        pthread_mutexattr_destroy(&mattr)
        condCount = conditions
        conds = .allocate(capacity: conditions)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        for i in 0..<conditions { pthread_cond_init(conds + i, &attr) }
        pthread_condattr_destroy(&attr)
    }

    deinit {
        for i in 0..<condCount { pthread_cond_destroy(conds + i) }
        pthread_mutex_destroy(mutex)
        conds.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits on condition `c` with the lock held (spurious wake-ups happen).
    func wait(_ c: Int) { pthread_cond_wait(conds + c, mutex) }

    /// Waits on condition `c` until `deadline` (MonotonicClock ns) at the latest.
    func wait(_ c: Int, untilNanoseconds deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(conds + c, mutex, &ts)
    }

    func signal(_ c: Int) { pthread_cond_signal(conds + c) }
    func broadcast(_ c: Int) { pthread_cond_broadcast(conds + c) }
}
