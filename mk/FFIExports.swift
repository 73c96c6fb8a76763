// The eight ABI version 1 exports of an EVA ICS FFI service written with
// the Swift SDK. Copy this file, unchanged, into your service's target and
// name your service type once, anywhere in the target:
//
//     typealias ExportedService = MyService   // a class conforming to FFIService
//
// Nothing else leaves the library: the linker version script mk/exports.map
// hides every other symbol (mk/eva-ffi-service.mk passes it). Everything
// here is `nonisolated`: the launcher calls from its own threads, and a
// target built with `.defaultIsolation(MainActor.self)` would otherwise make
// these main-actor functions that trap on the first call.
import CEvaFFI
import EvaFFI

nonisolated let evaServiceRuntime = FFIServiceRuntime<ExportedService>()

@_cdecl("eva_svc_set_op_fn")
nonisolated public func eva_svc_set_op_fn(_ abiVersion: UInt16, _ fn: FFIOpFunction?) -> Int16 {
    evaServiceRuntime.setOpFunction(abiVersion: abiVersion, fn)
}

@_cdecl("eva_svc_get_result")
nonisolated public func eva_svc_get_result(_ buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int16 {
    evaServiceRuntime.getResult(buffer)
}

@_cdecl("svc_init")
nonisolated public func svc_init(_ initial: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int32 {
    evaServiceRuntime.initialize(initial)
}

@_cdecl("svc_prepare")
nonisolated public func svc_prepare() -> Int16 { evaServiceRuntime.prepare() }

@_cdecl("svc_launch")
nonisolated public func svc_launch() -> Int16 { evaServiceRuntime.launch() }

@_cdecl("svc_terminate")
nonisolated public func svc_terminate() -> Int16 { evaServiceRuntime.terminate() }

@_cdecl("svc_on_frame")
nonisolated public func svc_on_frame(_ frame: UnsafeMutablePointer<EvaFFIFrame>?) { evaServiceRuntime.handleFrame(frame) }

@_cdecl("svc_on_rpc_call")
nonisolated public func svc_on_rpc_call(_ event: UnsafeMutablePointer<EvaFFIRpcEvent>?) -> Int32 {
    evaServiceRuntime.handleCall(event)
}
