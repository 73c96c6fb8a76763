// libFuzzer target: svc_on_rpc_call against a running controller.
// Input: records of (method selector, u16 LE payload length, payload); see
// FuzzInputs.calls. Oracles: no crash, no sanitizer report, every answer
// checked by Session (known error codes, replies one MessagePack value,
// well-formed op calls); an unknown method answers METHOD_NOT_FOUND and a
// known one never does.
#if canImport(Glibc)
import Glibc
#endif
import FuzzKit
import FuzzLauncher

nonisolated(unsafe) var shared: SharedController?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if shared == nil {
        shared = SharedController()
        atexit { shared?.shutdown() }
    }
    let controller = shared!
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    for call in FuzzInputs.calls(input) {
        let rc = controller.session.call(method: call.method, payload: call.payload)
        let known = FuzzInputs.isKnownMethod(call.method)
        if !known && rc != -32601 { fuzz_violation("an unknown method did not answer METHOD_NOT_FOUND") }
        if known && rc == -32601 { fuzz_violation("a known method answered METHOD_NOT_FOUND") }
    }
    controller.inputDone()
    return 0
}

/// The entry SwiftPM links as main; libFuzzer's driver does the rest.
@_cdecl("fuzz_rpc_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    fuzz_run_driver(argc, argv, fuzzOneInput)
}
