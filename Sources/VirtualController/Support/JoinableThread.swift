#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A thread the controller starts and must join before `svc_terminate`
/// returns (the launcher may unload the library right after).
public final class JoinableThread: Sendable {
    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private let thread: pthread_t

    /// Starts `body` on a new thread; nil when the system refuses a thread.
    public init?(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return nil
        }
        thread = handle
    }

    public func join() { pthread_join(thread, nil) }

    /// Gives up waiting for the thread: it frees itself when it ends. For a
    /// thread blocked where `svc_terminate` must not wait (see `Worker`).
    public func detach() { pthread_detach(thread) }
}
