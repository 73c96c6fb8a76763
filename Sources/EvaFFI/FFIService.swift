import EAPI

/// A service behind the ABI exports. The runtime creates it at `svc_init`
/// and calls it from the launcher's threads, many at once.
///
/// Lifecycle: `init` (svc_init: no bus, logs go to stderr) → `prepare`
/// (svc_prepare: bus up, the service is not ready yet; keep it short, the
/// node kills a service not ready within `timeout.startup`) → `launch`
/// (svc_launch: ready; start your threads) → `terminate` (svc_terminate:
/// stop and join them). These four run on the launcher's thread: make no
/// RPC call there (the host refuses it with one worker, see `FFIHost`).
/// Calls and frames may arrive before `prepare` has finished.
public protocol FFIService: AnyObject, Sendable {
    /// The bus is not connected yet: logs go to stderr, bus calls fail.
    init(initial: InitialPayload, host: FFIHost) throws(EAPIError)
    var info: ServiceInfo { get }
    func prepare() throws(EAPIError)
    func launch() throws(EAPIError)
    /// Stops and joins every thread the service started; the service makes
    /// no host calls after it returns.
    func terminate()
    /// One RPC call (`test`, `info` and `stop` never arrive: the launcher
    /// answers them, and so does the runtime for `test` and `info`). Write the reply into `reply` (left empty: no payload);
    /// a thrown error's code is the answer (its message only reaches logs).
    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws(EAPIError)
    /// One bus frame, on any thread, in no particular order. Frames are
    /// delivered from the start (a topic subscribed in `prepare` may bring
    /// some before it returns).
    func handleFrame(_ frame: BusFrame)
    /// False (the default): until `prepare` has returned OK the runtime
    /// answers every call NOT_READY for the service, as a node expects.
    /// True: calls reach `handleCall` at once (the service gates them).
    static var handlesCallsBeforeReady: Bool { get }
}

extension FFIService {
    public func prepare() throws(EAPIError) {}
    public func launch() throws(EAPIError) {}
    public func terminate() {}
    public func handleFrame(_ frame: BusFrame) {}
    public static var handlesCallsBeforeReady: Bool { false }
}
