import EAPI
import EvaFFI
import VirtualController

/// The virtual controller as an FFI service: a one-to-one adapter, so the
/// controller itself stays free of the ABI.
final class ControllerService: FFIService {
    let controller: VirtualController

    init(initial: InitialPayload, host: FFIHost) throws(EAPIError) {
        controller = try VirtualController(initial: initial, host: host)
    }

    /// The controller answers NOT_READY itself until prepared.
    static var handlesCallsBeforeReady: Bool { true }
    var info: ServiceInfo { VirtualController.info }
    func prepare() throws(EAPIError) { try controller.prepare() }
    func launch() throws(EAPIError) { try controller.launch() }
    func terminate() { controller.terminate() }

    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws(EAPIError) {
        try controller.handleCall(method: call.method, payload: call.payload, reply: reply)
    }

    func handleFrame(_ frame: BusFrame) {
        controller.handleFrame(topic: frame.topicBytes, payload: frame.payload)
    }
}

/// The service FFIExports.swift (a verbatim copy of mk/FFIExports.swift) exports.
typealias ExportedService = ControllerService
