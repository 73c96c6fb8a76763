#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization
import Testing
@testable import VirtualController

private typealias K = ActionTestKit

/// A host that only counts what is published (the engine's own cost, without
/// a recording host's decoding).
private final class CountingHost: ServiceHost {
    let published = Atomic<Int>(0)
    func publish(topic: String, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        published.add(1, ordering: .relaxed)
    }
    func subscribe(_ topics: [String]) throws(EAPIError) {}
    func unsubscribe(_ topics: [String]) throws(EAPIError) {}
    func call(target: String, method: String, params: [UInt8]?) throws(EAPIError) -> [UInt8]? { nil }
    func isLogged(_ level: LogLevel) -> Bool { level >= .warn }
    func write(log level: LogLevel, _ message: String) {}
    var isActive: Bool { true }
    func terminate() {}
}

private final class NullEffects: ActionEffects {
    func ensureUnit(_ oid: OID) throws(EAPIError) {}
    func completeUnitAction(_ oid: OID, status: Int16, value: MsgPackValue) {}
    func setItem(_ oid: OID, status: Int16?, value: MsgPackValue?) throws(EAPIError) {}
    func setVariable(tag: String, value: MsgPackValue) throws(EAPIError) {}
}

@Suite("Actions: benchmark")
struct ActionsBenchTests {
    /// Opt-in (`ACTION_BENCH=1`): 100,000 actions from several caller
    /// threads, every event counted; prints the rate.
    @Test("throughput with a counting host (ACTION_BENCH=1)",
          .enabled(if: getenv("ACTION_BENCH") != nil))
    func throughput() throws {
        let n = 100_000
        for (units, callers) in [(1, 1), (20, 1), (20, 2), (100, 4)] {
            let host = CountingHost()
            var map = MsgPackMap()
            for u in 0..<units { map["unit:b/u\(u)"] = [:] }
            let engine = try ActionEngine(units: .map(map), macros: nil, macroWorkers: nil, defaultWorkers: 1,
                                          host: host, effects: NullEffects())
            engine.start()
            let payloads = (0..<n).map { K.action(K.uuid($0), "unit:b/u\($0 % units)") }
            let t0 = MonotonicClock.now()
            var threads: [JoinableThread] = []
            for c in 0..<callers {
                threads.append(JoinableThread {
                    var i = c
                    while i < n {
                        try? engine.action(payloads[i])
                        i += callers
                    }
                }!)
            }
            for t in threads { t.join() }
            let done = K.wait(60) { host.published.load(ordering: .relaxed) >= 3 * n }
            let seconds = Double(MonotonicClock.now() - t0) / 1e9
            engine.shutdown(deadline: MonotonicClock.now() + 5_000_000_000)
            #expect(done)
            print("action engine bench: \(n) actions, \(units) unit(s), \(callers) caller(s): "
                + "\(Int(Double(n) / seconds)) actions/s, \(Int(Double(3 * n) / seconds)) events/s")
        }
    }
}
