#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pthread mutex and condition (visible to ThreadSanitizer, unlike
/// `Synchronization.Mutex` on Linux).
final class PthreadMonitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
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

    func locked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits (lock held) until `done` holds or `deadline` (monotonic seconds) passes.
    func wait(until deadline: Double, _ done: () -> Bool) {
        while !done() {
            let now = monotonicSeconds()
            if now >= deadline { return }
            // past ~30 years is forever (and keeps the nanoseconds in range)
            if deadline.isInfinite || deadline - now > 1e9 {
                pthread_cond_wait(cond, mutex)
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
}

/// A flag a service raises when it stops: waits (`sleep`, BUSY retries,
/// `waitForCore`) end at once instead of holding `svc_terminate`.
public final class StopFlag: Sendable {
    private let monitor = PthreadMonitor()
    private nonisolated(unsafe) var raised = false

    public init() {}

    public func raise() {
        monitor.locked { raised = true }
        monitor.broadcast()
    }

    public var isRaised: Bool { monitor.locked { raised } }

    /// Sleeps `seconds`, or less when the flag is raised. True when the
    /// whole time passed, false when stopped.
    public func sleep(_ seconds: Double) -> Bool {
        let deadline = monotonicSeconds() + max(0, seconds)
        return monitor.locked {
            monitor.wait(until: deadline) { raised }
            return !raised
        }
    }
}

/// Threads of a service (no Foundation: pthreads). `spawn` starts one,
/// detached; `joinAll` waits until every one has ended and refuses new ones
/// from then on, so `terminate` can end with nothing of the service running.
public final class ServiceThreads: Sendable {
    private let monitor = PthreadMonitor()
    private nonisolated(unsafe) var running = 0
    private nonisolated(unsafe) var closed = false

    public init() {}

    /// Threads started and not yet ended.
    public var count: Int { monitor.locked { running } }

    /// Starts `body` on a new thread; NOT_READY once `joinAll` has been
    /// called, SYSTEM_ERROR when the system refuses a thread.
    public func spawn(_ body: @escaping @Sendable () -> Void) throws(EAPIError) {
        try monitor.locked { () throws(EAPIError) in
            if closed { throw EAPIError(.notReady, "the service is stopping: no new threads") }
            running += 1
        }
        let box = Unmanaged.passRetained(ThreadBody { [self] in
            body()
            monitor.locked { running -= 1 }
            monitor.broadcast()
        }).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        defer { pthread_attr_destroy(&attr) }
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attr, { raw in
            Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            monitor.locked { running -= 1 }
            monitor.broadcast()
            throw EAPIError(.systemError, "cannot start a thread (error \(rc))")
        }
    }

    /// Refuses new threads, then waits until the running ones end (at most
    /// `timeout` seconds). True when none is left.
    @discardableResult
    public func joinAll(timeout: Double = .infinity) -> Bool {
        let deadline = monotonicSeconds() + timeout
        return monitor.locked {
            closed = true
            monitor.wait(until: deadline) { running == 0 }
            return running == 0
        }
    }
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
