/// The four lifecycle callbacks the launcher calls on its own thread.
///
/// On EVA ICS 4.2 a service with `workers` <= 1 runs on a one-thread
/// runtime: while one of these runs, the bus serves no RPC call, so an RPC
/// call made from the callback's thread (or from a thread the callback
/// waits for) never returns and the node's service hangs.
public enum LifecycleCallback: String, Sendable, CaseIterable {
    case initialize = "svc_init"
    case prepare = "svc_prepare"
    case launch = "svc_launch"
    case terminate = "svc_terminate"
}

extension EAPIError {
    /// The refusal of a bus call that would hang a node: names the call, the
    /// callback and the reason. NOT_READY, as the launcher answers a bus op it
    /// cannot serve yet.
    public static func wouldHangNode(_ what: String, in callback: LifecycleCallback) -> EAPIError {
        if callback == .initialize {
            return EAPIError(.notReady, "\(what) in svc_init: the bus is not connected yet (the launcher answers NOT_READY); make it in svc_prepare or later")
        }
        return EAPIError(.notReady, "\(what) refused: made on the launcher's thread inside \(callback.rawValue), it would hang an EVA ICS 4.2 node running this service with workers: 1 (a one-thread runtime serves no RPC while a lifecycle callback runs); make it from a thread of your own, e.g. one started in svc_launch")
    }
}

extension EAPIError {
    /// A call from another thread that waited for a lifecycle callback to
    /// return (as a one-worker node makes it wait) longer than the node
    /// would let the callback run: the callback most likely waits for this
    /// very thread, a deadlock that hangs the node.
    public static func heldByCallback(_ what: String, in callback: LifecycleCallback, waited seconds: Double) -> EAPIError {
        EAPIError(.timeout, "\(what) from another thread waited \(seconds) s for \(callback.rawValue) to return (a node with workers: 1 holds every RPC call until then) and gave up: does \(callback.rawValue) wait for this thread? That hangs an EVA ICS 4.2 node")
    }
}
