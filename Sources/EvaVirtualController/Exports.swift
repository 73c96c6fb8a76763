import CEvaFFI
import EvaFFI

// The ABI version 1 exports. Nothing else leaves the library: exports.map
// (a linker version script) hides every other symbol.

let runtime = FFIServiceRuntime<ControllerService>()

@_cdecl("eva_svc_set_op_fn")
public func eva_svc_set_op_fn(_ abiVersion: UInt16, _ fn: FFIOpFunction?) -> Int16 {
    runtime.setOpFunction(abiVersion: abiVersion, fn)
}

@_cdecl("eva_svc_get_result")
public func eva_svc_get_result(_ buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int16 {
    runtime.getResult(buffer)
}

@_cdecl("svc_init")
public func svc_init(_ initial: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int32 {
    runtime.initialize(initial)
}

@_cdecl("svc_prepare")
public func svc_prepare() -> Int16 { runtime.prepare() }

@_cdecl("svc_launch")
public func svc_launch() -> Int16 { runtime.launch() }

@_cdecl("svc_terminate")
public func svc_terminate() -> Int16 { runtime.terminate() }

@_cdecl("svc_on_frame")
public func svc_on_frame(_ frame: UnsafeMutablePointer<EvaFFIFrame>?) { runtime.handleFrame(frame) }

@_cdecl("svc_on_rpc_call")
public func svc_on_rpc_call(_ event: UnsafeMutablePointer<EvaFFIRpcEvent>?) -> Int32 {
    runtime.handleCall(event)
}
