// The eight ABI version 1 exports of an EVA ICS FFI service written with
// the Swift SDK. Copy this file, unchanged, into your service's target and
// name your service type once, anywhere in the target:
//
//     typealias ExportedService = MyService   // a class conforming to FFIService
//
// Nothing else leaves the library: the linker version script mk/exports.map
// hides every other symbol (mk/eva-ffi-service.mk passes it).
import CEvaFFI
import EvaFFI

let evaServiceRuntime = FFIServiceRuntime<ExportedService>()

@_cdecl("eva_svc_set_op_fn")
public func eva_svc_set_op_fn(_ abiVersion: UInt16, _ fn: FFIOpFunction?) -> Int16 {
    evaServiceRuntime.setOpFunction(abiVersion: abiVersion, fn)
}

@_cdecl("eva_svc_get_result")
public func eva_svc_get_result(_ buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int16 {
    evaServiceRuntime.getResult(buffer)
}

@_cdecl("svc_init")
public func svc_init(_ initial: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int32 {
    evaServiceRuntime.initialize(initial)
}

@_cdecl("svc_prepare")
public func svc_prepare() -> Int16 { evaServiceRuntime.prepare() }

@_cdecl("svc_launch")
public func svc_launch() -> Int16 { evaServiceRuntime.launch() }

@_cdecl("svc_terminate")
public func svc_terminate() -> Int16 { evaServiceRuntime.terminate() }

@_cdecl("svc_on_frame")
public func svc_on_frame(_ frame: UnsafeMutablePointer<EvaFFIFrame>?) { evaServiceRuntime.handleFrame(frame) }

@_cdecl("svc_on_rpc_call")
public func svc_on_rpc_call(_ event: UnsafeMutablePointer<EvaFFIRpcEvent>?) -> Int32 {
    evaServiceRuntime.handleCall(event)
}
