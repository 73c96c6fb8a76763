#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A flag a service raises when it stops: waits (`sleep`, BUSY retries,
/// `waitForCore`) end at once instead of holding `svc_terminate`.
public final class StopFlag: Sendable {
    private let monitor = Condition()
    private nonisolated(unsafe) var raised = false

    public init() {}

    public func raise() {
        monitor.withLock { raised = true }
        monitor.broadcast()
    }

    public var isRaised: Bool { monitor.withLock { raised } }

    /// Sleeps `seconds`, or less when the flag is raised. True when the
    /// whole time passed, false when stopped.
    public func sleep(_ seconds: Double) -> Bool {
        let deadline = monotonicSeconds() + max(0, seconds)
        return monitor.withLock {
            monitor.wait(untilSeconds: deadline) { raised }
            return !raised
        }
    }
}

/// Threads of a service (no Foundation: pthreads). `spawn` starts one,
/// detached; `joinAll` waits until every one has ended and refuses new ones
/// from then on, so `terminate` can end with nothing of the service running.
public final class ServiceThreads: Sendable {
    private let monitor = Condition()
    private nonisolated(unsafe) var running = 0
    private nonisolated(unsafe) var closed = false

    public init() {}

    /// Threads started and not yet ended.
    public var count: Int { monitor.withLock { running } }

    /// Starts `body` on a new thread; NOT_READY once `joinAll` has been
    /// called, SYSTEM_ERROR when the system refuses a thread.
    public func spawn(_ body: @escaping @Sendable () -> Void) throws(EAPIError) {
        try monitor.withLock { () throws(EAPIError) in
            if closed { throw EAPIError(.notReady, "the service is stopping: no new threads") }
            running += 1
        }
        let box = Unmanaged.passRetained(ThreadBody { [self] in
            body()
            monitor.withLock { running -= 1 }
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
            monitor.withLock { running -= 1 }
            monitor.broadcast()
            throw EAPIError(.systemError, "cannot start a thread (error \(rc))")
        }
    }

    /// Refuses new threads, then waits until the running ones end (at most
    /// `timeout` seconds). True when none is left.
    @discardableResult
    public func joinAll(timeout: Double = .infinity) -> Bool {
        let deadline = monotonicSeconds() + timeout
        return monitor.withLock {
            closed = true
            monitor.wait(untilSeconds: deadline) { running == 0 }
            return running == 0
        }
    }
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
