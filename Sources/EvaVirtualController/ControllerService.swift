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

    var info: ServiceInfo { VirtualController.info }
    func prepare() throws(EAPIError) { try controller.prepare() }
    func launch() throws(EAPIError) { try controller.launch() }
    func terminate() { controller.terminate() }

    func handleCall(method: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer?,
                    reply: MsgPackWriter) throws(EAPIError) {
        try controller.handleCall(method: method, payload: payload, reply: reply)
    }

    func handleFrame(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        controller.handleFrame(topic: topic, payload: payload)
    }
}
