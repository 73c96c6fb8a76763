import EAPI
import Testing
@testable import VirtualController

private typealias K = ActionTestKit

@Suite("Macro: lmacro runs")
struct MacroTests {
    @Test("every step kind, with $n and $name substitution; COMPLETED carries the output")
    func allSteps() throws {
        let macros: MsgPackValue = ["lmacro:t/all": ["steps": [
            ["set": ["i": "$1", "status": 2, "value": "$v"]],
            ["var": ["i": "tag1", "value": "$2"]],
            ["action": ["i": "unit:t/m", "value": "$v"]],
            ["sleep": 0.05],
            ["out": ["first": "$1", "list": ["$2", "$v"], "$v": "key"]],
        ]]]
        let (engine, host, effects) = try K.engine(units: ["unit:t/m": ["action_time": 0.02]], macros: macros)
        defer { K.stop(engine) }
        let id = K.uuid(1)
        let t0 = MonotonicClock.now()
        try engine.run(K.run(id, "lmacro:t/all", args: ["sensor:t/s", 7], kwargs: ["v": "hello"]))
        #expect(K.statuses(host, id).first == K.pending)
        #expect(K.waitEnd(host, id) == [K.pending, K.running, K.completed])
        #expect(Double(MonotonicClock.now() - t0) / 1e9 >= 0.06)
        let last = K.events(host, id).last
        #expect(last?.topic == "ACT/lmacro/t/all")
        #expect(last?.exitcode == 0)
        #expect(last?.out == ["first": "sensor:t/s", "list": [7, "hello"], "hello": "key"])
        let sets = effects.sets
        #expect(sets.count == 1)
        #expect(sets.first?.oid == "sensor:t/s")
        #expect(sets.first?.status == 2)
        #expect(sets.first?.value == "hello")
        #expect(effects.vars.map(\.tag) == ["tag1"])
        #expect(effects.vars.first?.value == 7)
        #expect(effects.completions.map(\.oid) == ["unit:t/m"])
        #expect(effects.completions.first?.value == "hello")
        // The unit action went through the unit's queue with its own uuid
        // (events of different jobs may interleave in any order).
        func child() -> [K.Event] { K.events(host).filter { $0.topic == "ACT/unit/t/m" } }
        #expect(K.wait { child().count == 3 })
        #expect(child().map(\.status) == [K.pending, K.running, K.completed])
        #expect(child().first?.uuid != id)
    }

    @Test("set without status/value: omitted fields stay nil, an explicit nil is kept")
    func setFields() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [
            ["set": ["i": "sensor:t/a"]],
            ["set": ["i": "sensor:t/b", "value": .nil]],
        ]]]
        let (engine, host, effects) = try K.engine(macros: macros)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/s"))
        #expect(K.waitEnd(host, K.uuid(1)).last == K.completed)
        let sets = effects.sets
        #expect(sets.count == 2)
        #expect(sets[0].status == nil && sets[0].value == nil)
        #expect(sets[1].status == nil && sets[1].value == .some(.nil))
        #expect(K.events(host, K.uuid(1)).last?.out == .nil)
    }

    @Test("call: the result becomes the output; params are substituted")
    func callStep() throws {
        let macros: MsgPackValue = [
            "lmacro:t/test": ["steps": [["call": ["target": "eva.core", "method": "test"]]]],
            "lmacro:t/get": ["steps": [["call": ["target": "eva.registry", "method": "key_get",
                                                   "params": ["key": "$key"]]]]],
        ]
        let (engine, host, _) = try K.engine(macros: macros)
        defer { K.stop(engine) }
        host.state.withLock { $0.registry["some/key"] = 99 }
        try engine.run(K.run(K.uuid(1), "lmacro:t/test"))
        try engine.run(K.run(K.uuid(2), "lmacro:t/get", kwargs: ["key": "some/key"]))
        #expect(K.waitEnd(host, K.uuid(1)) == [K.pending, K.running, K.completed])
        #expect(K.events(host, K.uuid(1)).last?.out == ["active": true])
        #expect(K.waitEnd(host, K.uuid(2)) == [K.pending, K.running, K.completed])
        #expect(K.events(host, K.uuid(2)).last?.out == 99)
        // (the two runs may take two macro workers: their calls in either order)
        #expect(host.state.withLock { $0.calls.map(\.target) }.sorted() == ["eva.core", "eva.registry"])
    }

    @Test("call: an error fails the run")
    func callError() throws {
        let macros: MsgPackValue = ["lmacro:t/c": ["steps": [
            ["call": ["target": "nobody", "method": "x"]], ["out": 1],
        ]]]
        let (engine, host, _) = try K.engine(macros: macros)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/c"))
        #expect(K.waitEnd(host, K.uuid(1)) == [K.pending, K.running, K.failed])
        let last = K.events(host, K.uuid(1)).last
        #expect(last?.exitcode == 1)
        #expect(last?.err?.contains("nobody") == true)
    }

    @Test("fail: FAILED with the text (substituted), exitcode 1; later steps do not run")
    func failStep() throws {
        let macros: MsgPackValue = ["lmacro:t/f": ["steps": [["fail": "$why"], ["var": ["i": "after", "value": 1]]]]]
        let (engine, host, effects) = try K.engine(macros: macros)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/f", kwargs: ["why": "boom"]))
        #expect(K.waitEnd(host, K.uuid(1)) == [K.pending, K.running, K.failed])
        let last = K.events(host, K.uuid(1)).last
        #expect(last?.exitcode == 1)
        #expect(last?.err == "boom")
        #expect(effects.vars.isEmpty)
    }

    @Test("a missing argument fails the run")
    func missingArgument() throws {
        let macros: MsgPackValue = [
            "lmacro:t/p": ["steps": [["out": "$3"]]],
            "lmacro:t/n": ["steps": [["var": ["i": "x", "value": ["deep": ["$name"]]]]]],
        ]
        let (engine, host, effects) = try K.engine(macros: macros)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/p", args: [1, 2]))
        try engine.run(K.run(K.uuid(2), "lmacro:t/n", kwargs: ["other": 1]))
        #expect(K.waitEnd(host, K.uuid(1)) == [K.pending, K.running, K.failed])
        #expect(K.events(host, K.uuid(1)).last?.err?.contains("$3") == true)
        #expect(K.waitEnd(host, K.uuid(2)) == [K.pending, K.running, K.failed])
        #expect(K.events(host, K.uuid(2)).last?.err?.contains("$name") == true)
        #expect(effects.vars.isEmpty)
    }

    @Test("a step whose effect fails fails the run")
    func effectError() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [["set": ["i": "sensor:t/x", "status": 1]]]]]
        let (engine, host, effects) = try K.engine(macros: macros)
        defer { K.stop(engine) }
        effects.state.withLock { $0.failWith = .notFound("sensor:t/x") }
        try engine.run(K.run(K.uuid(1), "lmacro:t/s"))
        #expect(K.waitEnd(host, K.uuid(1)) == [K.pending, K.running, K.failed])
        #expect(K.events(host, K.uuid(1)).last?.err?.contains("sensor:t/x") == true)
    }

    @Test("an action step that does not complete fails the run")
    func actionStepFails() throws {
        let macros: MsgPackValue = [
            "lmacro:t/bad": ["steps": [["action": ["i": "unit:t/bad", "value": 1]], ["out": "never"]]],
            "lmacro:t/unknown": ["steps": [["action": ["i": "unit:t/none", "value": 1]]]],
        ]
        let (engine, host, _) = try K.engine(units: ["unit:t/bad": ["fail": true]], macros: macros)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/bad"))
        try engine.run(K.run(K.uuid(2), "lmacro:t/unknown"))
        #expect(K.waitEnd(host, K.uuid(1)) == [K.pending, K.running, K.failed])
        #expect(K.events(host, K.uuid(1)).last?.exitcode == 1)
        func child() -> [UInt8] { K.events(host).filter { $0.topic == "ACT/unit/t/bad" }.map(\.status) }
        #expect(K.wait { child().count == 3 })
        #expect(child() == [K.pending, K.running, K.failed])
        #expect(K.waitEnd(host, K.uuid(2)) == [K.pending, K.running, K.failed])
    }

    @Test("an action step waits in the unit's queue behind other actions")
    func actionStepQueues() throws {
        let macros: MsgPackValue = ["lmacro:t/q": ["steps": [["action": ["i": "unit:t/q", "value": "macro"]]]]]
        let (engine, host, effects) = try K.engine(units: ["unit:t/q": ["action_time": 0.1]], macros: macros)
        defer { K.stop(engine) }
        try engine.action(K.action(K.uuid(1), "unit:t/q", value: "first"))
        #expect(K.waitStatus(host, K.uuid(1), K.running))
        try engine.run(K.run(K.uuid(2), "lmacro:t/q"))
        #expect(K.waitEnd(host, K.uuid(2)) == [K.pending, K.running, K.completed])
        #expect(effects.completions.map(\.value) == ["first", "macro"])
    }

    @Test("failed by waiting past the timeout for a pool place")
    func waitTimeout() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [["sleep": 0.5]]]]
        let (engine, host, _) = try K.engine(macros: macros, macroWorkers: 1)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/s"))
        try engine.run(K.run(K.uuid(2), "lmacro:t/s", timeout: 50_000))
        #expect(K.waitEnd(host, K.uuid(2), seconds: 2) == [K.pending, K.failed])
        #expect(!K.statuses(host, K.uuid(1)).contains(K.completed))
        #expect(K.events(host, K.uuid(2)).last?.exitcode == 1)
        #expect(K.waitEnd(host, K.uuid(1)) == [K.pending, K.running, K.completed])
    }

    @Test("canceled while waiting; terminated while sleeping (at once)")
    func terminateRuns() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [["sleep": 10]]]]
        let (engine, host, _) = try K.engine(macros: macros, macroWorkers: 1)
        defer { K.stop(engine) }
        let a = K.uuid(1), b = K.uuid(2)
        try engine.run(K.run(a, "lmacro:t/s"))
        try engine.run(K.run(b, "lmacro:t/s"))
        #expect(K.waitStatus(host, a, K.running))
        try engine.terminate(K.terminate(b))
        #expect(K.statuses(host, b) == [K.pending, K.canceled])
        let t0 = MonotonicClock.now()
        try engine.terminate(K.terminate(a))
        #expect(K.statuses(host, a) == [K.pending, K.running, K.terminated])
        #expect(Double(MonotonicClock.now() - t0) / 1e9 < 1)
        #expect(K.events(host, a).last?.exitcode == -15)
        #expect(K.code { try engine.terminate(K.terminate(a)) } == .notFound)
    }

    @Test("terminating a run stops its unit action too")
    func terminateRunWithChild() throws {
        let macros: MsgPackValue = ["lmacro:t/a": ["steps": [["action": ["i": "unit:t/long", "value": 1]]]]]
        let (engine, host, effects) = try K.engine(units: ["unit:t/long": ["action_time": 10]], macros: macros)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/a"))
        #expect(K.wait { K.events(host).contains { $0.topic == "ACT/unit/t/long" && $0.status == K.running } })
        try engine.terminate(K.terminate(K.uuid(1)))
        #expect(K.statuses(host, K.uuid(1)) == [K.pending, K.running, K.terminated])
        func child() -> [UInt8] { K.events(host).filter { $0.topic == "ACT/unit/t/long" }.map(\.status) }
        #expect(K.wait { child().count == 3 })
        #expect(child() == [K.pending, K.running, K.terminated])
        #expect(effects.completions.isEmpty)
    }

    @Test("kill: the running run is terminated, waiting ones canceled")
    func killRuns() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [["sleep": 10]]], "lmacro:t/o": ["steps": [["sleep": 0.2]]]]
        let (engine, host, _) = try K.engine(macros: macros, macroWorkers: 1)
        defer { K.stop(engine) }
        try engine.run(K.run(K.uuid(1), "lmacro:t/s"))
        #expect(K.waitStatus(host, K.uuid(1), K.running))
        try engine.run(K.run(K.uuid(2), "lmacro:t/s"))
        try engine.run(K.run(K.uuid(3), "lmacro:t/o"))
        try engine.kill(K.kill("lmacro:t/s"))
        #expect(K.statuses(host, K.uuid(1)) == [K.pending, K.running, K.terminated])
        #expect(K.statuses(host, K.uuid(2)) == [K.pending, K.canceled])
        // The other macro's run takes the freed place.
        #expect(K.waitEnd(host, K.uuid(3)) == [K.pending, K.running, K.completed])
        try engine.kill(K.kill("lmacro:t/s"))
    }

    @Test("failed by running past the timeout: exitcode -32008, err \"action timeout\"")
    func runTimeout() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [["sleep": 10]]]]
        let (engine, host, _) = try K.engine(macros: macros)
        defer { K.stop(engine) }
        let t0 = MonotonicClock.now()
        try engine.run(K.run(K.uuid(1), "lmacro:t/s", timeout: 100_000))
        #expect(K.waitEnd(host, K.uuid(1), seconds: 3) == [K.pending, K.running, K.failed])
        #expect(Double(MonotonicClock.now() - t0) / 1e9 < 3)
        #expect(K.events(host, K.uuid(1)).last?.exitcode == -32008)
        #expect(K.events(host, K.uuid(1)).last?.err == "action timeout")
    }

    @Test("the pool runs at most macro_workers runs at once")
    func poolLimit() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [["sleep": "$1"]]]]
        let (engine, host, _) = try K.engine(macros: macros, macroWorkers: 2)
        defer { K.stop(engine) }
        let ids = (0..<6).map(K.uuid)
        for id in ids { try engine.run(K.run(id, "lmacro:t/s", args: [0.05])) }
        #expect(K.wait { ids.allSatisfy { K.statuses(host, $0).last == K.completed } })
        var running = 0
        var peak = 0
        for e in K.events(host) {
            if e.status == K.running { running += 1 }
            if K.isTerminal(e.status) { running -= 1 }
            peak = max(peak, running)
        }
        #expect(peak == 2)
    }

    @Test("waiting runs take pool places by priority, then arrival")
    func poolPriority() throws {
        let macros: MsgPackValue = ["lmacro:t/s": ["steps": [["sleep": "$1"]]]]
        let (engine, host, _) = try K.engine(macros: macros, macroWorkers: 1)
        defer { K.stop(engine) }
        let blocker = K.uuid(100)
        try engine.run(K.run(blocker, "lmacro:t/s", args: [0.1]))
        #expect(K.waitStatus(host, blocker, K.running))
        let prios: [Int64] = [20, 5, 20, 1]
        for (n, p) in prios.enumerated() { try engine.run(K.run(K.uuid(n), "lmacro:t/s", args: [0], priority: p)) }
        #expect(K.wait { (0..<4).allSatisfy { K.statuses(host, K.uuid($0)).last == K.completed } })
        let order = K.events(host).filter { $0.status == K.running && $0.uuid != blocker }.map(\.uuid)
        #expect(order == [3, 1, 0, 2].map(K.uuid))
    }

    @Test("bad run payloads: none INVALID_PARAMS, undecodable INVALID_DATA; unknown macro: NOT_FOUND")
    func badRunPayloads() throws {
        let (engine, host, _) = try K.engine(units: ["unit:t/u": [:]], macros: ["lmacro:t/m": ["steps": []]])
        defer { K.stop(engine) }
        let id = K.uuid(1)
        #expect(K.code { try engine.run(nil) } == .invalidParams)
        let bad: [MsgPackValue?] = [
            .nil,
            "run",
            ["uuid": .binary(Array(repeating: 0, count: 15)), "i": "lmacro:t/m"],
            ["i": "lmacro:t/m"],
            ["uuid": .binary(id)],
            ["uuid": .binary(id), "i": "lmacro:t/m", "params": ["args": 1]],
            ["uuid": .binary(id), "i": "lmacro:t/m", "params": ["kwargs": [1]]],
            ["uuid": .binary(id), "i": "lmacro:t/m", "params": 3],
        ]
        for (n, p) in bad.enumerated() { #expect(K.code { try engine.run(p) } == .invalidData, "case \(n)") }
        #expect(K.code { try engine.run(K.run(id, "lmacro:t/none")) } == .notFound)
        #expect(K.code { try engine.run(K.run(id, "unit:t/u")) } == .notFound)
        #expect(K.events(host).isEmpty)
        // No params at all is fine.
        try engine.run(["uuid": .binary(id), "i": "lmacro:t/m"])
        #expect(K.waitEnd(host, id) == [K.pending, K.running, K.completed])
    }
}
