import CEvaFFI
import EAPI
import EvaFFI
import Synchronization
import Testing

/// Counts live instances, to see that a released runtime gives its service back.
final class CountedService: FFIService {
    static let alive = Atomic<Int>(0)
    init(initial: InitialPayload, host: FFIHost) throws(EAPIError) { Self.alive.add(1, ordering: .relaxed) }
    deinit { Self.alive.subtract(1, ordering: .relaxed) }
    var info: ServiceInfo { ServiceInfo(author: "tests", version: "0", description: "counted") }
    func prepare() throws(EAPIError) {}
    func launch() throws(EAPIError) {}
    func terminate() {}
    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws(EAPIError) {}
    func handleFrame(_ frame: BusFrame) {}
    static var handlesCallsBeforeReady: Bool { false }
}

@Suite struct RuntimeLifetimeTests {
    /// Regression (found by fuzz/fuzz-init under LeakSanitizer): a runtime
    /// made per input kept the service `svc_init` retained forever.
    @Test func aReleasedRuntimeGivesBackItsService() {
        #expect(CountedService.alive.load(ordering: .relaxed) == 0)
        do {
            let runtime = FFIServiceRuntime<CountedService>()
            var bytes = initialPayload()
            let rc = bytes.withUnsafeMutableBytes { raw in
                var buffer = EvaFFIBuffer(
                    len: raw.count, data: raw.baseAddress!.assumingMemoryBound(to: CChar.self), max: raw.count)
                return runtime.initialize(&buffer)
            }
            #expect(rc > 0)
            #expect(CountedService.alive.load(ordering: .relaxed) == 1)
            #expect(runtime.terminate() == 0)
        }
        #expect(CountedService.alive.load(ordering: .relaxed) == 0)
    }
}
