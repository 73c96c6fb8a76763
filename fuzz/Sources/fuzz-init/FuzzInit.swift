// libFuzzer target: svc_init with arbitrary initial payloads, each input on
// a fresh FFIServiceRuntime. When svc_init accepts the payload the target
// goes on as the launcher would: svc_prepare, svc_launch, a few calls (list,
// var.list, info), svc_terminate.
// Input: the initial payload's bytes, as is.
import FuzzKit
import FuzzLauncher

let probes: [(String, [UInt8]?)] = [
    ("list", nil),
    ("var.list", [0x81, 0xa4, 0x66, 0x75, 0x6c, 0x6c, 0xc3]), // {"full": true}
    ("info", nil),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let session = Session()
    let rc = session.start(initial: input)
    if rc > 0, session.ready {
        for (method, payload) in probes {
            let m = Array(method.utf8)
            let r = m.withUnsafeBytes { mb in
                if let payload {
                    return payload.withUnsafeBytes { session.call(method: mb, payload: $0) }
                }
                return session.call(method: mb, payload: nil)
            }
            if r < 0 { fuzz_violation("\(method) failed on a controller that started") }
        }
    }
    session.close()
    fuzz_launcher_clear_registry()
    return 0
}

/// The entry SwiftPM links as main; libFuzzer's driver does the rest.
@_cdecl("fuzz_init_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    fuzz_run_driver(argc, argv, fuzzOneInput)
}
