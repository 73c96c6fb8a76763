import EAPI
import Testing
@testable import VirtualController

private typealias K = ActionTestKit

@Suite("Actions: unit actions")
struct ActionsUnitTests {
    @Test("completed: PENDING, RUNNING, COMPLETED after action_time; the effect comes first")
    func completed() throws {
        let (engine, host, effects) = try K.engine(units: ["unit:t/a": ["action_time": 0.05, "status": 5]])
        defer { K.stop(engine) }
        let id = K.uuid(1)
        let t0 = MonotonicClock.now()
        try engine.action(K.action(id, "unit:t/a", value: 42))
        // PENDING is out before the call returns.
        #expect(K.statuses(host, id).first == K.pending)
        let list = K.waitEnd(host, id)
        let elapsed = Double(MonotonicClock.now() - t0) / 1e9
        #expect(list == [K.pending, K.running, K.completed])
        #expect(elapsed >= 0.045)
        let last = K.events(host, id).last
        #expect(last?.exitcode == 0)
        #expect(last?.topic == "ACT/unit/t/a")
        let c = effects.completions
        #expect(c.count == 1)
        #expect(c.first?.oid == "unit:t/a")
        #expect(c.first?.status == 5)
        #expect(c.first?.value == 42)
        #expect(c.first?.completedFramesBefore == 0)
    }

    @Test("an auto-created unit (no units entry) completes with status 1, before the call returns")
    func autoCreatedUnitStatus() throws {
        let (engine, host, effects) = try K.engine(autoCreate: true)
        defer { K.stop(engine) }
        try engine.action(K.action(K.uuid(1), "unit:auto/x", value: "v"))
        #expect(K.statuses(host, K.uuid(1)) == [K.completed])
        #expect(effects.completions.first?.status == 1)
        #expect(effects.completions.first?.value == "v")
    }

    @Test("failed by config: FAILED with exitcode 1 and err, no effect")
    func failedByConfig() throws {
        let (engine, host, effects) = try K.engine(units: ["unit:t/f": ["fail": true, "action_time": 0.01]])
        defer { K.stop(engine) }
        let id = K.uuid(2)
        try engine.action(K.action(id, "unit:t/f"))
        #expect(K.waitEnd(host, id) == [K.pending, K.running, K.failed])
        let last = K.events(host, id).last
        #expect(last?.exitcode == 1)
        #expect(last?.err?.isEmpty == false)
        #expect(effects.completions.isEmpty)
    }

    @Test("failed by wait timeout: an action that waits past its timeout never runs")
    func failedByWaitTimeout() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/w": ["action_time": 0.5]])
        defer { K.stop(engine) }
        let a = K.uuid(1), b = K.uuid(2)
        try engine.action(K.action(a, "unit:t/w"))
        try engine.action(K.action(b, "unit:t/w", timeout: 50_000))
        #expect(K.waitEnd(host, b, seconds: 2) == [K.pending, K.failed])
        #expect(!K.statuses(host, a).contains(K.completed), "B failed on its own deadline, not at A's end")
        let last = K.events(host, b).last
        #expect(last?.exitcode == 1)
        #expect(last?.err?.isEmpty == false)
        #expect(K.waitEnd(host, a) == [K.pending, K.running, K.completed])
    }

    @Test("canceled: terminate on a waiting action")
    func canceledByTerminate() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/c": ["action_time": 0.3]])
        defer { K.stop(engine) }
        let a = K.uuid(1), b = K.uuid(2)
        try engine.action(K.action(a, "unit:t/c"))
        try engine.action(K.action(b, "unit:t/c"))
        try engine.terminate(K.terminate(b))
        #expect(K.statuses(host, b) == [K.pending, K.canceled])
        #expect(K.code { try engine.terminate(K.terminate(b)) } == .notFound)
        #expect(K.waitEnd(host, a) == [K.pending, K.running, K.completed])
        #expect(K.statuses(host, b) == [K.pending, K.canceled])
    }

    @Test("terminated by terminate (the `uuid` key works too); the next action runs")
    func terminatedByTerminate() throws {
        let (engine, host, effects) = try K.engine(units: ["unit:t/r": ["action_time": 5]])
        defer { K.stop(engine) }
        let a = K.uuid(1), b = K.uuid(2)
        try engine.action(K.action(a, "unit:t/r"))
        try engine.action(K.action(b, "unit:t/r"))
        #expect(K.waitStatus(host, a, K.running))
        try engine.terminate(["uuid": .binary(a)])
        // (The worker that published RUNNING may still hold the job's publishing.)
        #expect(K.waitEnd(host, a) == [K.pending, K.running, K.terminated])
        #expect(K.events(host, a).last?.exitcode == -15)
        #expect(K.waitStatus(host, b, K.running))
        try engine.terminate(K.terminate(b))
        #expect(K.waitEnd(host, b) == [K.pending, K.running, K.terminated])
        #expect(effects.completions.isEmpty)
    }

    @Test("kill: the running action is terminated, waiting ones canceled; OK when none")
    func terminatedByKill() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/k": ["action_time": 5]])
        defer { K.stop(engine) }
        let a = K.uuid(1), b = K.uuid(2), c = K.uuid(3)
        try engine.action(K.action(a, "unit:t/k"))
        #expect(K.waitStatus(host, a, K.running))
        try engine.action(K.action(b, "unit:t/k"))
        try engine.action(K.action(c, "unit:t/k"))
        try engine.kill(K.kill("unit:t/k"))
        #expect(K.waitEnd(host, a) == [K.pending, K.running, K.terminated])
        #expect(K.statuses(host, b) == [K.pending, K.canceled])
        #expect(K.statuses(host, c) == [K.pending, K.canceled])
        try engine.kill(K.kill("unit:t/k"))
        // Nothing starts after the kill.
        _ = K.wait(0.05) { false }
        #expect(K.statuses(host, b) == [K.pending, K.canceled])
        #expect(K.invariantProblems(host).isEmpty)
    }

    @Test("failed by running past the timeout: FAILED, exitcode -32008, err \"action timeout\"")
    func failedByRunTimeout() throws {
        let (engine, host, effects) = try K.engine(units: ["unit:t/slow": ["action_time": 10]])
        defer { K.stop(engine) }
        let a = K.uuid(1)
        let t0 = MonotonicClock.now()
        try engine.action(K.action(a, "unit:t/slow", timeout: 100_000))
        #expect(K.waitEnd(host, a, seconds: 3) == [K.pending, K.running, K.failed])
        #expect(Double(MonotonicClock.now() - t0) / 1e9 < 3)
        #expect(K.events(host, a).last?.exitcode == -32008)
        #expect(K.events(host, a).last?.err == "action timeout")
        #expect(effects.completions.isEmpty)
    }

    @Test("waiting actions start by priority (lower first)")
    func priorities() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/p": ["action_time": 0.05]])
        defer { K.stop(engine) }
        let blocker = K.uuid(100)
        try engine.action(K.action(blocker, "unit:t/p", priority: 100))
        #expect(K.waitStatus(host, blocker, K.running))
        let prios: [Int64] = [50, 10, 200, 0, 255, 10]
        for (n, p) in prios.enumerated() { try engine.action(K.action(K.uuid(n), "unit:t/p", priority: p)) }
        #expect(K.wait { (0..<prios.count).allSatisfy { K.statuses(host, K.uuid($0)).last == K.completed } })
        let order = K.events(host).filter { $0.status == K.running && $0.uuid != blocker }.map(\.uuid)
        #expect(order == [3, 1, 5, 0, 2, 4].map(K.uuid))
    }

    @Test("within a priority, actions start in arrival order")
    func arrivalOrder() throws {
        let (engine, host, effects) = try K.engine(units: ["unit:t/o": ["action_time": 0.01]])
        defer { K.stop(engine) }
        let blocker = K.uuid(100)
        try engine.action(K.action(blocker, "unit:t/o", value: -1))
        #expect(K.waitStatus(host, blocker, K.running))
        for n in 0..<8 { try engine.action(K.action(K.uuid(n), "unit:t/o", value: .int(Int64(n)))) }
        #expect(K.wait { K.statuses(host, K.uuid(7)).last == K.completed })
        let order = K.events(host).filter { $0.status == K.running && $0.uuid != blocker }.map(\.uuid)
        #expect(order == (0..<8).map(K.uuid))
        #expect(effects.completions.map(\.value) == [-1] + (0..<8).map { .int(Int64($0)) })
    }

    @Test("each unit runs one action at a time, units run side by side")
    func oneAtATimePerUnit() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/x": ["action_time": 0.2], "unit:t/y": ["action_time": 0.2]])
        defer { K.stop(engine) }
        try engine.action(K.action(K.uuid(1), "unit:t/x"))
        try engine.action(K.action(K.uuid(2), "unit:t/x"))
        try engine.action(K.action(K.uuid(3), "unit:t/y"))
        #expect(K.waitStatus(host, K.uuid(3), K.running))
        #expect(K.waitStatus(host, K.uuid(1), K.running))
        #expect(!K.statuses(host, K.uuid(2)).contains(K.running))
        #expect(K.waitEnd(host, K.uuid(2)) == [K.pending, K.running, K.completed])
    }

    @Test("terminate and kill on unknown targets")
    func unknownTargets() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/u": [:]], macros: ["lmacro:t/m": ["steps": []]])
        defer { K.stop(engine) }
        #expect(K.code { try engine.terminate(K.terminate(K.uuid(9))) } == .notFound)
        #expect(K.code { try engine.kill(K.kill("unit:t/nope")) } == .notFound)
        #expect(K.code { try engine.kill(K.kill("lmacro:t/nope")) } == .notFound)
        #expect(K.code { try engine.kill(K.kill("sensor:t/s")) } == .notFound)
        // Known, idle: OK.
        #expect(K.code { try engine.kill(K.kill("unit:t/u")) } == nil)
        #expect(K.code { try engine.kill(K.kill("lmacro:t/m")) } == nil)
        // Finished: NOT_FOUND.
        try engine.action(K.action(K.uuid(1), "unit:t/u"))
        K.waitEnd(host, K.uuid(1))
        #expect(K.wait { K.code { try engine.terminate(K.terminate(K.uuid(1))) } == .notFound })
        #expect(K.code { try engine.kill(K.kill("unit:t/u")) } == nil)
        // Bad payloads.
        #expect(K.code { try engine.terminate(nil) } == .invalidParams)
        #expect(K.code { try engine.terminate(["u": .binary([1, 2, 3])]) } == .invalidData)
        #expect(K.code { try engine.kill(nil) } == .invalidParams)
        #expect(K.code { try engine.kill(["i": "not an oid"]) } == .invalidData)
    }

    @Test("an unknown unit (no auto-create) is NOT_FOUND and publishes nothing")
    func unknownUnit() throws {
        let (engine, host, _) = try K.engine()
        defer { K.stop(engine) }
        #expect(K.code { try engine.action(K.action(K.uuid(1), "unit:t/none")) } == .notFound)
        #expect(K.events(host).isEmpty)
    }

    @Test("a duplicate uuid in flight is ALREADY_EXISTS, for runs too")
    func duplicateUUID() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/d": ["action_time": 0.3]],
                                             macros: ["lmacro:t/m": ["steps": []]])
        defer { K.stop(engine) }
        let a = K.uuid(1)
        try engine.action(K.action(a, "unit:t/d"))
        #expect(K.code { try engine.action(K.action(a, "unit:t/d")) } == .alreadyExists)
        #expect(K.code { try engine.run(K.run(a, "lmacro:t/m")) } == .alreadyExists)
        #expect(K.waitEnd(host, a) == [K.pending, K.running, K.completed])
    }

    @Test("bad action payloads: none is INVALID_PARAMS, one that does not decode INVALID_DATA")
    func badActionPayloads() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/a": [:]], macros: ["lmacro:t/m": ["steps": []]])
        defer { K.stop(engine) }
        let ok = K.uuid(1)
        #expect(K.code { try engine.action(nil) } == .invalidParams)
        let bad: [MsgPackValue?] = [
            .nil,
            .int(1),
            .array([]),
            ["i": "unit:t/a", "params": ["value": 1]],
            ["uuid": .binary(Array(repeating: 1, count: 15)), "i": "unit:t/a", "params": ["value": 1]],
            ["uuid": .binary(Array(repeating: 1, count: 17)), "i": "unit:t/a", "params": ["value": 1]],
            ["uuid": "not a uuid", "i": "unit:t/a", "params": ["value": 1]],
            ["uuid": .binary(ok), "params": ["value": 1]],
            ["uuid": .binary(ok), "i": "unit:t/a"],
            ["uuid": .binary(ok), "i": "unit:t/a", "params": 5],
            ["uuid": .binary(ok), "i": "bad oid", "params": ["value": 1]],
            ["uuid": "a5000000-0000-0000-0000-000000000001", "i": "unit:t/a", "params": ["value": 1]],
            ["uuid": .binary(ok), "i": "unit:t/a", "params": ["value": 1], "priority": 256],
            ["uuid": .binary(ok), "i": "unit:t/a", "params": ["value": 1], "timeout": -1],
            ["uuid": .binary(ok), "i": "unit:t/a", "params": ["value": 1], "timeout": "soon"],
        ]
        for (n, p) in bad.enumerated() {
            #expect(K.code { try engine.action(p) } == .invalidData, "case \(n)")
        }
        // params without value: METHOD_NOT_IMPLEMENTED, as the shipped controller answers.
        #expect(K.code { try engine.action(["uuid": .binary(ok), "i": "unit:t/a", "params": [:]]) }
            == .methodNotImplemented)
        // Items that are not there (no auto_create): NOT_FOUND.
        #expect(K.code { try engine.action(K.action(ok, "sensor:t/s")) } == .notFound)
        #expect(K.code { try engine.action(K.action(ok, "lmacro:t/m")) } == .notFound)
        #expect(K.events(host).isEmpty)
        try engine.action(K.action(ok, "unit:t/a"))
        #expect(K.waitEnd(host, ok) == [K.pending, K.running, K.completed])
    }

    @Test("malformed config is INVALID_PARAMS naming the key")
    func badConfig() {
        func message(units: MsgPackValue? = nil, macros: MsgPackValue? = nil, workers: MsgPackValue? = nil) -> String? {
            do {
                _ = try ActionEngine(units: units, macros: macros, macroWorkers: workers, defaultWorkers: 1,
                                     host: RecordingHost(), effects: FakeEffects())
                return nil
            } catch {
                #expect(error.code == .invalidParams)
                return error.message
            }
        }
        #expect(message(units: 5)?.contains("units") == true)
        #expect(message(units: ["nope": [:]])?.contains("nope") == true)
        #expect(message(units: ["sensor:t/s": [:]])?.contains("sensor:t/s") == true)
        #expect(message(units: ["unit:t/a": ["action_time": -1]])?.contains("action_time") == true)
        #expect(message(units: ["unit:t/a": ["action_time": "x"]])?.contains("action_time") == true)
        #expect(message(units: ["unit:t/a": ["fail": 1]])?.contains("fail") == true)
        #expect(message(units: ["unit:t/a": ["status": 40000]])?.contains("status") == true)
        #expect(message(units: ["unit:t/a": ["colour": 1]])?.contains("colour") == true)
        #expect(message(units: ["unit:t/a": 3])?.contains("unit:t/a") == true)
        #expect(message(macros: 1)?.contains("macros") == true)
        #expect(message(macros: ["unit:t/a": ["steps": []]])?.contains("unit:t/a") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": 1]])?.contains("steps") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": [["dance": 1]]]])?.contains("dance") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": [["sleep": 1, "out": 2]]]])?.contains("steps[0]") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": [["sleep": -1]]]])?.contains("sleep") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": [["set": ["i": "bad"]]]]])?.contains("set.i") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": [["action": ["i": "sensor:t/s"]]]]])?.contains("action") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": [["var": ["i": "x"]]]]])?.contains("value") == true)
        #expect(message(macros: ["lmacro:t/m": ["steps": [["call": ["method": "x"]]]]])?.contains("target") == true)
        #expect(message(macros: ["lmacro:t/m": ["stops": []]])?.contains("stops") == true)
        #expect(message(workers: 0)?.contains("macro_workers") == true)
        #expect(message(workers: "two")?.contains("macro_workers") == true)
        // Good config, configured units in OID order.
        let engine = try? ActionEngine(units: ["unit:t/b": ["action_time": 1, "fail": false, "status": -3],
                                               "unit:t/a": .nil],
                                       macros: ["lmacro:t/m": ["steps": [["sleep": "$1"], ["out": "$x"]]]],
                                       macroWorkers: nil, defaultWorkers: 0, host: RecordingHost(),
                                       effects: FakeEffects())
        #expect(engine?.configuredUnits.map(\.description) == ["unit:t/a", "unit:t/b"])
    }

    @Test("BUSY publishes are retried: no event is lost, order holds")
    func busyPublishes() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/b": [:]])
        host.state.withLock { $0.busyPublishes = 40 }
        let ids = (0..<20).map(K.uuid)
        for id in ids { try engine.action(K.action(id, "unit:t/b")) }
        #expect(K.wait { ids.allSatisfy { K.statuses(host, $0).last == K.completed } })
        for id in ids { #expect(K.statuses(host, id) == [K.pending, K.running, K.completed]) }
        #expect(host.state.withLock { $0.busyPublishes } == 0)
        K.stop(engine)
        #expect(K.invariantProblems(host, accepted: Set(ids)).isEmpty)
    }

    @Test("a bus busy through shutdown: shutdown still returns before its deadline")
    func busyThroughShutdown() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/b": ["action_time": 10]])
        try engine.action(K.action(K.uuid(1), "unit:t/b"))
        #expect(K.waitStatus(host, K.uuid(1), K.running))
        host.state.withLock { $0.busyPublishes = 1_000_000 }
        let deadline = MonotonicClock.now() + 300_000_000
        engine.shutdown(deadline: deadline)
        #expect(MonotonicClock.now() < deadline)
        #expect(host.logs.contains { $0.0 == .error })
        let count = K.frameCount(host)
        host.state.withLock { $0.busyPublishes = 0 }
        _ = K.wait(0.05) { false }
        #expect(K.frameCount(host) == count)
    }

    @Test("1,000 queued actions with action_time 0 (rate printed)")
    func rate() throws {
        let (engine, host, effects) = try K.engine(units: ["unit:t/fast": [:]], logLevel: .warn, watchOrder: false)
        defer { K.stop(engine) }
        let n = 1_000
        let payloads = (0..<n).map { K.action(K.uuid($0), "unit:t/fast", value: .int(Int64($0))) }
        let t0 = MonotonicClock.now()
        for p in payloads { try engine.action(p) }
        let done = K.wait(30) { K.frameCount(host) >= 3 * n }
        let seconds = Double(MonotonicClock.now() - t0) / 1e9
        #expect(done)
        print("action engine: \(n) queued actions (action_time 0) in \(seconds * 1000) ms: \(Int(Double(n) / seconds)) actions/s")
        #expect(effects.completions.map(\.value) == (0..<n).map { .int(Int64($0)) })
        #expect(K.invariantProblems(host, accepted: Set((0..<n).map(K.uuid))).isEmpty)
    }

    @Test("10,000 actions over 20 units")
    func tenThousand() throws {
        let units = MsgPackValue.map(MsgPackMap((0..<20).map { (key: .string("unit:t/u\($0)"), value: .map([:])) }))
        let (engine, host, effects) = try K.engine(units: units, logLevel: .warn, watchOrder: false)
        let n = 10_000
        let t0 = MonotonicClock.now()
        for i in 0..<n { try engine.action(K.action(K.uuid(i), "unit:t/u\(i % 20)", priority: Int64(i % 7))) }
        let done = K.wait(60) { K.frameCount(host) >= 3 * n }
        let seconds = Double(MonotonicClock.now() - t0) / 1e9
        #expect(done)
        print("action engine: \(n) actions over 20 units in \(seconds * 1000) ms: \(Int(Double(n) / seconds)) actions/s")
        K.stop(engine)
        #expect(effects.completions.count == n)
        #expect(K.invariantProblems(host, accepted: Set((0..<n).map(K.uuid))).isEmpty)
    }
}
