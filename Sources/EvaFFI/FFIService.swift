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
///
/// Every member is required: the protocol has no default implementations,
/// on purpose. With a default, a near-miss (`func launch() async`, `static
/// func launch()`, `func lanch()`, an instance `handlesCallsBeforeReady`)
/// compiles as a second, unrelated method and the empty default runs
/// instead; without one it is a compile error ("does not conform"). The
/// requirements take plain `throws`, so `throws`, `throws(EAPIError)`,
/// `throws(AnyError)` and no `throws` all satisfy them. Write an empty body
/// for a step you do not need (`func prepare() throws {}`).
///
/// Errors: an `EAPIError` is answered with its code; any other error with
/// FUNC_FAILED (-32010). The runtime logs every error it receives through
/// the launcher's log op (`LOG/IN/<level>` on a node), with the method or
/// topic, the code and the message: `FFIHost.errorLogLevels` (and
/// `EAPIError.logged(at:)` for one error) choose the level.
public protocol FFIService: AnyObject, Sendable {
    /// svc_init. The bus is not connected yet: logs go to stderr, bus calls
    /// fail. A thrown error stops the launch (its text goes to stderr).
    init(initial: InitialPayload, host: FFIHost) throws
    /// The service info the launcher publishes (`info` is answered with it).
    var info: ServiceInfo { get }
    /// False: until `prepare` has returned the runtime answers every call
    /// NOT_READY for the service, as a node expects. True: calls reach
    /// `handleCall` at once (the service gates them itself).
    static var handlesCallsBeforeReady: Bool { get }
    /// svc_prepare. A thrown error is logged (error) and stops the launcher.
    func prepare() throws
    /// svc_launch. A thrown error is logged (error) and stops the launcher.
    func launch() throws
    /// svc_terminate: stops and joins every thread the service started; the
    /// service makes no host calls after it returns. A thrown error is
    /// logged (error) and answered to the launcher, which then exits at once.
    func terminate() throws
    /// One RPC call (`test`, `info` and `stop` never arrive: the launcher
    /// answers them, and so does the runtime for `test` and `info`). Write
    /// the reply into `reply` (left empty: no payload). A thrown error's
    /// code is the answer; the launcher carries no text, so the runtime logs
    /// the method, the code and the message (see `FFIHost.errorLogLevels`).
    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws
    /// One bus frame, on any thread, in no particular order. Frames are
    /// delivered from the start (a topic subscribed in `prepare` may bring
    /// some before it returns). A thrown error is logged with the topic.
    func handleFrame(_ frame: BusFrame) throws
}
