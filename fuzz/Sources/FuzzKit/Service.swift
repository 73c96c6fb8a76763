import EAPI
import EvaFFI
import VirtualController

/// The controller as an FFI service, for the fuzz targets: the same
/// one-to-one adapter as the library's `ControllerService` (which is
/// internal to the export shim), so that a target can make a fresh
/// `FFIServiceRuntime` whenever it wants a new controller.
public final class FuzzControllerService: FFIService {
    let controller: VirtualController

    /// The controller of the latest successful `svc_init` (a target runs
    /// one at a time); weak, so that it does not outlive its runtime.
    nonisolated(unsafe) static weak var latest: FuzzControllerService?

    public init(initial: InitialPayload, host: FFIHost) throws(EAPIError) {
        controller = try VirtualController(initial: initial, host: host)
        Self.latest = self
    }

    /// The controller's own thread has done its start-up work.
    var settled: Bool { controller.fullStatePublished }

    public static var handlesCallsBeforeReady: Bool { true }  // as ControllerService
    public var info: ServiceInfo { VirtualController.info }
    public func prepare() throws(EAPIError) { try controller.prepare() }
    public func launch() throws(EAPIError) { try controller.launch() }
    public func terminate() { controller.terminate() }

    public func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws(EAPIError) {
        try controller.handleCall(method: call.method, payload: call.payload, reply: reply)
    }

    public func handleFrame(_ frame: BusFrame) {
        controller.handleFrame(topic: frame.topicBytes, payload: frame.payload)
    }
}
