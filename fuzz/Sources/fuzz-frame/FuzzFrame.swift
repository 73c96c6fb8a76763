// libFuzzer target: svc_on_frame against a running controller (config with
// bind), with arbitrary topics and payloads.
// Input: b0 = flags: bits 0-2 a topic prefix (FuzzInputs.topicPrefixes),
// bit 3 a bound item path (b1 picks it) instead of raw path bytes (b1 & 63
// of them follow), bit 4 a `var.list {full: true}` after the frame (reads
// what the frame set); the rest is the payload.
#if canImport(Glibc)
import Glibc
#endif
import FuzzKit
import FuzzLauncher

nonisolated(unsafe) var shared: SharedController?
let listFull: [UInt8] = [0x81, 0xa4, 0x66, 0x75, 0x6c, 0x6c, 0xc3] // {"full": true}
let varList: [UInt8] = Array("var.list".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size >= 2 else { return 0 }
    if shared == nil {
        shared = SharedController()
        atexit { shared?.shutdown() }
    }
    let controller = shared!
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let flags = input[0], pick = input[1]
    var at = 2
    var topic = Array(FuzzInputs.topicPrefixes[Int(flags & 7)].utf8)
    if flags & 8 != 0 {
        topic += Array(FuzzInputs.boundPaths[Int(pick) % FuzzInputs.boundPaths.count].utf8)
    } else {
        let len = min(Int(pick & 63), size - at)
        topic += input[at..<at + len]
        at += len
    }
    let payload = UnsafeRawBufferPointer(rebasing: input[at...])
    topic.withUnsafeBytes { controller.session.frame(topic: $0, payload: payload) }
    if flags & 16 != 0 {
        varList.withUnsafeBytes { m in
            listFull.withUnsafeBytes { p in
                let rc = controller.session.call(method: m, payload: p)
                if rc <= 0 { fuzz_violation("var.list {full: true} failed") }
            }
        }
    }
    controller.inputDone()
    return 0
}

/// The entry SwiftPM links as main; libFuzzer's driver does the rest.
@_cdecl("fuzz_frame_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    fuzz_run_driver(argc, argv, fuzzOneInput)
}
