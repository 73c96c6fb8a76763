import EAPI
import Synchronization
import Testing
@testable import VirtualController

private typealias K = ActionTestKit

@Suite("Actions: shutdown and stress")
struct ActionsShutdownTests {
    @Test("shutdown with work in flight: one terminal event each, nothing after it returns")
    func shutdownInFlight() throws {
        var units = MsgPackMap()
        for u in 0..<5 { units["unit:t/s\(u)"] = ["action_time": 0.2] }
        let macros: MsgPackValue = [
            "lmacro:t/sleep": ["steps": [["sleep": 5]]],
            "lmacro:t/act": ["steps": [["action": ["i": "unit:t/s0", "value": 1]]]],
        ]
        let (engine, host, _) = try K.engine(units: .map(units), macros: macros, macroWorkers: 2)
        var accepted = Set<[UInt8]>()
        for i in 0..<50 {
            let id = K.uuid(i)
            try engine.action(K.action(id, "unit:t/s\(i % 5)"))
            accepted.insert(id)
        }
        for i in 50..<54 {
            let id = K.uuid(i)
            try engine.run(K.run(id, i % 2 == 0 ? "lmacro:t/sleep" : "lmacro:t/act"))
            accepted.insert(id)
        }
        #expect(K.waitStatus(host, K.uuid(0), K.running))
        let deadline = MonotonicClock.now() + 2_000_000_000
        engine.shutdown(deadline: deadline)
        #expect(MonotonicClock.now() < deadline)
        let count = K.frameCount(host)
        // New work is refused; the rest finds nothing.
        #expect(K.code { try engine.action(K.action(K.uuid(999), "unit:t/s0")) } == .notReady)
        #expect(K.code { try engine.run(K.run(K.uuid(998), "lmacro:t/sleep")) } == .notReady)
        #expect(K.code { try engine.terminate(K.terminate(K.uuid(1))) } == .notFound)
        #expect(K.code { try engine.kill(K.kill("unit:t/s1")) } == nil)
        _ = K.wait(0.1) { false }
        #expect(K.frameCount(host) == count, "no publish after shutdown returned")
        // Child actions of runs have their own uuids: check them all, and
        // that every accepted one is there.
        #expect(K.invariantProblems(host).isEmpty)
        let seen = Set(K.events(host).map(\.uuid))
        #expect(accepted.isSubset(of: seen))
        let statuses = K.events(host).filter { accepted.contains($0.uuid) && K.isTerminal($0.status) }.map(\.status)
        #expect(statuses.contains(K.canceled))
        #expect(statuses.contains(K.terminated))
        #expect(K.statuses(host, K.uuid(50)) == [K.pending, K.running, K.terminated])
        // Shutdown twice is harmless.
        K.stop(engine)
    }

    @Test("shutdown without start: queued work still gets its events")
    func shutdownWithoutStart() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/a": [:]], start: false)
        let ids = (0..<5).map(K.uuid)
        for id in ids { try engine.action(K.action(id, "unit:t/a")) }
        K.stop(engine)
        for id in ids { #expect(K.statuses(host, id) == [K.pending, K.canceled]) }
    }

    @Test("stress: 2,000 actions over 20 units, random priorities, terminate/kill, shutdown mid-burst")
    func stress() throws {
        var units = MsgPackMap()
        for u in 0..<20 {
            let time: Double = u % 3 == 0 ? 0 : (u % 3 == 1 ? 0.001 : 0.003)
            units["unit:t/u\(u)"] = ["action_time": .double(time), "fail": .bool(u == 7)]
        }
        let macros: MsgPackValue = ["lmacro:t/m": ["steps": [["action": ["i": "$1", "value": 1]], ["sleep": 0.002]]]]
        let (engine, host, _) = try K.engine(units: .map(units), macros: macros, macroWorkers: 3, logLevel: .error, watchOrder: false)
        let shared = StressState()
        let total = 2_000
        let submitters = 3
        var threads: [JoinableThread] = []
        for s in 0..<submitters {
            threads.append(JoinableThread {
                var rng = SystemRandomNumberGenerator()
                var i = s
                while i < total {
                    let id = K.uuid(i)
                    let prio = Int64(rng.next() % 5)
                    let timeout: Int64? = rng.next() % 10 == 0 ? Int64(rng.next() % 20_000) + 1 : nil
                    let isRun = i % 50 == 0
                    let payload: MsgPackValue = isRun
                        ? K.run(id, "lmacro:t/m", args: [.string("unit:t/u\(i % 20)")], timeout: timeout, priority: prio)
                        : K.action(id, "unit:t/u\(i % 20)", timeout: timeout, priority: prio)
                    let code = K.code { try (isRun ? engine.run(payload) : engine.action(payload)) }
                    shared.record { st in
                        if code == nil { st.accepted.insert(id) } else if code != .notReady { st.odd.append("submit: \(String(describing: code))") }
                    }
                    shared.submitted.add(1, ordering: .relaxed)
                    i += submitters
                }
            }!)
        }
        threads.append(JoinableThread {
            var rng = SystemRandomNumberGenerator()
            while shared.submitted.load(ordering: .relaxed) < total {
                let n = Int(rng.next() % UInt64(max(1, shared.submitted.load(ordering: .relaxed))))
                if rng.next() % 8 == 0 {
                    let code = K.code { try engine.kill(K.kill("unit:t/u\(n % 20)")) }
                    if code != nil { shared.record { $0.odd.append("kill: \(String(describing: code))") } }
                } else {
                    let code = K.code { try engine.terminate(K.terminate(K.uuid(n))) }
                    if code != nil, code != .notFound { shared.record { $0.odd.append("terminate: \(String(describing: code))") } }
                }
            }
        }!)
        // Shut down mid-burst.
        _ = K.wait(30) { shared.submitted.load(ordering: .relaxed) >= total / 2 }
        let deadline = MonotonicClock.now() + 5_000_000_000
        engine.shutdown(deadline: deadline)
        #expect(MonotonicClock.now() < deadline)
        let count = K.frameCount(host)
        for t in threads { t.join() }
        _ = K.wait(0.05) { false }
        #expect(K.frameCount(host) == count, "no publish after shutdown returned")
        let acc = shared.state.withLock { $0.accepted }
        #expect(shared.state.withLock { $0.odd }.isEmpty)
        #expect(acc.count >= total / 2)
        let problems = K.invariantProblems(host)
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        let seen = Set(K.events(host).map(\.uuid))
        #expect(acc.isSubset(of: seen))
        let ours = seen.filter { $0.first == 0xA5 && $0[1..<8].allSatisfy { $0 == 0 } }
        #expect(ours.isSubset(of: acc), "events only for accepted uuids")
    }

    @Test("stress without shutdown: a random mix settles with every invariant")
    func stressSettles() throws {
        var units = MsgPackMap()
        for u in 0..<20 { units["unit:t/u\(u)"] = ["action_time": .double(u % 2 == 0 ? 0 : 0.001)] }
        let (engine, host, _) = try K.engine(units: .map(units), logLevel: .error, watchOrder: false)
        var rng = SystemRandomNumberGenerator()
        let total = 2_000
        for i in 0..<total {
            try engine.action(K.action(K.uuid(i), "unit:t/u\(i % 20)", priority: Int64(rng.next() % 4)))
            if i % 13 == 0 { _ = K.code { try engine.terminate(K.terminate(K.uuid(Int(rng.next() % UInt64(i + 1))))) } }
            if i % 301 == 0 { try engine.kill(K.kill("unit:t/u\(i % 20)")) }
        }
        #expect(K.wait(60) {
            let events = K.events(host)
            return Set(events.filter { K.isTerminal($0.status) }.map(\.uuid)).count == total
        })
        K.stop(engine)
        #expect(K.invariantProblems(host, accepted: Set((0..<total).map(K.uuid))).isEmpty)
    }
}

private final class StressState: Sendable {
    struct State {
        var accepted = Set<[UInt8]>()
        var odd: [String] = []
    }

    let state = PthreadLocked(State())
    let submitted = Atomic<Int>(0)

    func record(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }
}
