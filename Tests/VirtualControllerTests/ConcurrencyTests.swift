import EAPI
import Synchronization
import Testing
@testable import VirtualController

@Suite struct ConcurrencyTests {
    /// Threads hammer var.set / var.get / set / get while the pull cycle
    /// runs every 10 ms and frames arrive; each thread reads back what only
    /// it writes, so any mix-up shows as a wrong reply.
    @Test func concurrentCallsReadBackTheirOwnWrites() throws {
        let threads = 4
        let iterations = 20_000
        let h = try ControllerHarness(config: [
            "items": .array((0..<threads).map { .string("sensor:c/t\($0)") }),
            "pull": [["var": "shared", "map": .array((0..<threads).map { ["oid": .string("sensor:p/\($0)"), "idx": .int(Int64($0))] })]],
            "pull_interval": 0.01,
            "bind": ["bound": "sensor:b/x"],
            "persist_interval": 0.01,
        ])
        try h.controller.launch()
        let wrong = Locked(0)
        let failures = Locked<[String]>([])
        @Sendable func fail(_ s: String) {
            wrong { $0 += 1 }
            failures { if $0.count < 10 { $0.append(s) } }
        }
        let workers = (0..<threads).map { t in
            JoinableThread {
                let writer = MsgPackWriter()
                let own = "own\(t)"
                let element = "shared[\(t)]"
                let oid = "sensor:c/t\(t)"
                for n in 0..<iterations {
                    let value = MsgPackValue.int(Int64(t * 1_000_000 + n))
                    do {
                        switch n % 3 {
                        case 0:
                            try h.varSet(own, value)
                            let back = try h.varGet(own)
                            if back != value { fail("\(own): \(String(describing: back)) != \(value)") }
                        case 1:
                            try h.varSet(element, value)
                            let back = try h.varGet(element)
                            if back != value { fail("\(element): \(String(describing: back)) != \(value)") }
                        default:
                            try h.call("set", ["i": .string(oid), "status": 1, "value": value])
                            let back = try h.get(oid)
                            let expected: MsgPackValue = ["oid": .string(oid), "status": 1, "value": value]
                            if back != expected { fail("\(oid): \(String(describing: back))") }
                        }
                        if n % 1000 == 0 {
                            // A list and a frame now and then, for good measure.
                            writer.reset()
                            try Array("list".utf8).withUnsafeBytes { m in
                                Result { () throws(EAPIError) in
                                    try h.controller.handleCall(method: m, payload: nil, reply: writer)
                                }
                            }.get()
                            h.frame(topic: "ST/LOC/sensor/b/x",
                                    payload: (["status": 1, "value": value] as MsgPackValue).encoded())
                        }
                    } catch {
                        fail("\(t)/\(n): \(error)")
                    }
                }
            }!
        }
        workers.forEach { $0.join() }
        h.controller.terminate()
        #expect(wrong.value == 0, "\(failures.value)")
        // The shared array holds each thread's last element write.
        let shared = try #require(h.host.registry[h.registryKey]?["shared"]?.arrayValue)
        #expect(shared.count == threads)
        for t in 0..<threads {
            let last = (0..<iterations).last { $0 % 3 == 1 }!
            #expect(shared[t] == .int(Int64(t * 1_000_000 + last)))
        }
        // The pull copied the shared array into the mapped items.
        #expect(h.host.frames(prefix: "RAW").count > 0)
    }

    @Test func concurrentAutoCreateKeepsTheIndexConsistent() throws {
        let h = try ControllerHarness(config: ["auto_create": true])
        let workers = (0..<4).map { t in
            JoinableThread {
                for n in 0..<500 { _ = try? h.call("set", ["i": .string("sensor:g\(n % 50)/t\(t)_\(n)"), "value": 1]) }
            }!
        }
        workers.forEach { $0.join() }
        let list = try #require(try h.call("list")?.arrayValue)
        #expect(list.count == 2000)
        let oids = list.compactMap { $0["oid"]?.stringValue }
        #expect(oids == oids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        for oid in oids.prefix(100) { #expect(try h.get(oid)?["oid"] == .string(oid)) }
    }
}
