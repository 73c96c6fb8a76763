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
/// detached; `joinAll` waits until every one has ended, or until the node's
/// shutdown deadline, and refuses new ones from then on, so `terminate` can
/// end with nothing of the service running, or say what is left.
public final class ServiceThreads: Sendable {
    private let monitor = Condition()
    private let host: (any ServiceHost)?
    /// The names of the running threads, by a number of their own.
    private nonisolated(unsafe) var running: [Int: String] = [:]
    private nonisolated(unsafe) var nextNumber = 0
    private nonisolated(unsafe) var closed = false

    /// `host`: bounds `joinAll` by its shutdown deadline, and hears what
    /// was left (nil: no bound but the caller's timeout, nothing logged).
    public init(host: (any ServiceHost)? = nil) {
        self.host = host
    }

    /// Threads started and not yet ended.
    public var count: Int { monitor.withLock { running.count } }

    /// Starts `body` on a new thread (`name` says what it does, in what
    /// `joinAll` logs); NOT_READY once `joinAll` has been called,
    /// SYSTEM_ERROR when the system refuses a thread.
    public func spawn(_ name: String = "thread", _ body: @escaping @Sendable () -> Void) throws(EAPIError) {
        let number = try monitor.withLock { () throws(EAPIError) -> Int in
            if closed { throw EAPIError(.notReady, "the service is stopping: no new threads") }
            nextNumber += 1
            running[nextNumber] = name
            return nextNumber
        }
        let box = Unmanaged.passRetained(ThreadBody { [self] in
            body()
            ended(number)
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
            ended(number)
            throw EAPIError(.systemError, "cannot start a thread (error \(rc))")
        }
    }

    private func ended(_ number: Int) {
        monitor.withLock { _ = running.removeValue(forKey: number) }
        monitor.broadcast()
    }

    /// The part of the time left before the node kills the service that a
    /// join may take: the rest is for what `terminate` does after it.
    static let shareOfShutdown = 0.8

    /// Refuses new threads, then waits until the running ones end: at most
    /// `timeout` seconds, and never past the host's shutdown deadline (a
    /// share of `shutdownTimeLeft` while the service stops; with neither,
    /// without a bound). Threads still running then are left detached and
    /// logged (warn) through the host. True when none is left.
    @discardableResult
    public func joinAll(timeout: Double? = nil) -> Bool {
        var wait = timeout ?? .infinity
        if let left = host?.shutdownTimeLeft { wait = min(wait, left * Self.shareOfShutdown) }
        let deadline = monotonicSeconds() + max(0, wait)
        let left: [String] = monitor.withLock {
            closed = true
            monitor.wait(untilSeconds: deadline) { running.isEmpty }
            return running.sorted { $0.key < $1.key }.map(\.value)
        }
        if !left.isEmpty, let host {
            host.log(.warn, "\(left.count) thread(s) still running after \(Self.seconds(wait)) s, left to end on "
                + "their own: \(left.joined(separator: ", "))")
        }
        return left.isEmpty
    }

    private static func seconds(_ s: Double) -> String {
        guard s.isFinite else { return "\(s)" }
        let millis = Int((s * 1000).rounded())
        return "\(millis / 1000).\(String(millis % 1000 + 1000).dropFirst())"
    }
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
