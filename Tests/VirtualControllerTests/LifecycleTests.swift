#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization
import Testing
@testable import VirtualController

/// A fresh folder for a data_path (removed by `removeFolder`).
func makeFolder() -> String {
    var template = Array("/tmp/vc-test-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed")
    return String(cString: made!)
}

func removeFolder(_ path: String) {
    for name in [VariablePersistence.journalName, VariablePersistence.baseName] {
        unlink("\(path)/\(name)")
        unlink("\(path)/\(name).tmp")
    }
    rmdir(path)
}

/// The lifecycle on a launcher: no bus call from inside a callback, the
/// variables loaded after launch, the wait for the core and the full state.
@Suite struct LifecycleTests {
    static let key = "eva/svc_data/test.virtual/vars"

    @Test(arguments: [(Int64(1), false), (1, true), (2, false), (2, true)])
    func noBusCallWhileALifecycleCallbackRuns(workers: Int64, withDataPath: Bool) throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let h = try ControllerHarness(
            config: ["items": ["sensor:a"], "vars": ["seed": 1], "persist_interval": 60,
                     "pull": [["var": "seed", "map": [["oid": "sensor:p"]]]], "pull_interval": 0.01],
            registry: [Self.key: ["old": 1]], prepare: false, workers: workers,
            dataPath: withDataPath ? folder : "", coreActive: false)
        h.host.state.withLock { $0.coreInactiveTests = 2 }
        try h.prepare()
        try h.launch()
        #expect(waitUntil { h.controller.fullStatePublished })
        try h.varSet("new", 2)
        h.stop()
        let calls = h.host.lifecycleCalls
        if workers >= 2 {
            // The one exception: a multi-thread launcher serves the
            // registry while `svc_terminate` waits, so the stop leaves the
            // registry whole.
            #expect(calls == ["eva.registry key_set in terminate"])
        } else {
            #expect(calls.isEmpty, "\(calls)")
        }
        // Nothing set before the stop was lost where it could be kept.
        if withDataPath || workers >= 2 {
            let h2 = try ControllerHarness(registry: h.host.registry, workers: workers,
                                           dataPath: withDataPath ? folder : "")
            #expect(try h2.varGet("new") == 2)
            #expect(try h2.varGet("old") == 1)
        }
    }

    /// On a one-thread launcher a call in progress when `svc_terminate`
    /// begins returns only after it: the controller's thread is held in
    /// `key_get` here, and terminate must return without waiting for it.
    @Test func terminateDoesNotWaitForACallOnOneThread() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let h = try ControllerHarness(config: ["vars": ["a": 1]], prepare: false, workers: 1, dataPath: folder)
        h.host.state.withLock { $0.registryGetHeld = true }
        try h.prepare()
        try h.launch()
        // The controller's thread is inside key_get now.
        #expect(waitUntil { h.controller.isInBusCall })
        let stopped = Locked(false)
        let stopper = JoinableThread {
            h.stop()
            stopped { $0 = true }
        }!
        #expect(waitUntil(3) { stopped.value }, "terminate waited for a bus call")
        let logs = h.host.logs.count
        h.host.state.withLock { $0.registryGetHeld = false }
        stopper.join()
        sleepSeconds(0.1)
        // The call returned after terminate: no op call followed it.
        #expect(h.host.logs.count == logs)
        #expect(h.host.frames.isEmpty)
    }

    /// The same with the thread held in a write-through's `key_set`: the
    /// stop still journals everything (file I/O from `svc_terminate`).
    @Test func aStopDuringAWriteThroughStillJournalsEverything() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let h = try ControllerHarness(config: ["persist_interval": 0.02], workers: 1, dataPath: folder)
        h.host.state.withLock { $0.registrySetHeld = true }
        try h.launch()
        try h.varSet("a", 1)
        #expect(waitUntil { h.controller.isInBusCall })
        try h.varSet("b", 2)
        let stopped = Locked(false)
        let stopper = JoinableThread {
            h.stop()
            stopped { $0 = true }
        }!
        #expect(waitUntil(3) { stopped.value }, "terminate waited for a bus call")
        h.host.state.withLock { $0.registrySetHeld = false }
        stopper.join()
        #expect(h.host.lifecycleCalls.isEmpty)
        let h2 = try ControllerHarness(registry: h.host.registry, workers: 1, dataPath: folder)
        #expect(try h2.call("var.list", ["full": true]) == [["id": "a", "value": 1], ["id": "b", "value": 2]])
    }

    @Test func variablesAnswerNotReadyUntilLoaded() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a"], "vars": ["seed": 1]],
                                      registry: [Self.key: ["kept": "yes"]], loadVariables: false)
        h.controller.variableLoadWait.store(20_000_000, ordering: .relaxed)
        h.host.state.withLock { $0.registryGetHeld = true }
        try h.launch()
        defer { h.controller.terminate() }
        for (method, params) in [("var.get", ["i": "kept"]), ("var.set", ["i": "x", "value": 1]),
                                 ("var.list", nil), ("var.destroy", ["i": "kept"]),
                                 ("var.set_bulk", ["i": ["x"], "values": [1]])] as [(String, MsgPackValue?)] {
            #expect(h.code(method, params) == .notReady, "\(method)")
        }
        // Items answer meanwhile.
        #expect(try h.get("sensor:a") == ["oid": "sensor:a", "status": 1, "value": nil])
        h.host.state.withLock { $0.registryGetHeld = false }
        #expect(waitUntil { h.code("var.get", ["i": "kept"]) == nil })
        #expect(try h.varGet("kept") == "yes")
        // Configured, and missing from what was persisted: created.
        #expect(try h.varGet("seed") == 1)
    }

    /// fuzz/regressions/init/negative-default-timeout.bin: a timeout.default
    /// below 0 once left var.* no wait for the load. The node's launcher
    /// refuses such a payload (it panics decoding it), so svc_init does too.
    @Test func aNegativeTimeoutIsRefusedAtInit() throws {
        for field in ["startup", "shutdown", "default"] {
            var timeout: MsgPackValue = ["startup": 5, "shutdown": 5, "default": 2]
            if case .map(var m) = timeout { m[field] = -2.0; timeout = .map(m) }
            do {
                _ = try InitialPayload([
                    "version": 4, "id": "test.virtual", "system_name": "test", "command": "svc/eva-ffi",
                    "timeout": timeout, "core": ["log_level": 0],
                    "config": [:], "workers": 2, "user": "", "data_path": "",
                ])
                Issue.record("accepted timeout.\(field) -2")
            } catch {
                #expect(error.code == .invalidParams)
                #expect(error.message.contains("initial.timeout.\(field) must be 0 or more"), "\(error.message)")
            }
        }
    }

    /// A stop requested before the load (the host is no longer active, so
    /// the controller's thread ends without loading): var.* answer
    /// NOT_READY at once instead of waiting out their bound.
    @Test func aLoadGivenUpDoesNotHoldVariableCalls() throws {
        let h = try ControllerHarness(registry: [Self.key: ["kept": "yes"]], loadVariables: false)
        h.controller.variableLoadWait.store(5_000_000_000, ordering: .relaxed)
        h.host.state.withLock { $0.active = false }
        try h.launch()
        defer { h.controller.terminate() }
        let start = MonotonicClock.now()
        #expect(h.code("var.get", ["i": "kept"]) == .notReady)
        #expect(MonotonicClock.now() &- start < 1_000_000_000)
    }

    @Test func aCallMadeJustBeforeTheLoadWaitsForIt() throws {
        let h = try ControllerHarness(registry: [Self.key: ["kept": "yes"]], loadVariables: false)
        h.controller.variableLoadWait.store(3_000_000_000, ordering: .relaxed)
        h.host.state.withLock { $0.registryGetHeld = true }
        try h.launch()
        defer { h.controller.terminate() }
        let opener = JoinableThread {
            sleepSeconds(0.05)
            h.host.state.withLock { $0.registryGetHeld = false }
        }!
        #expect(try h.varGet("kept") == "yes")
        opener.join()
    }

    /// Decision: a bound frame (or any write) that arrives before the load
    /// is applied on top of the loaded variables: the live state is newer
    /// than the persisted one, and the variables it does not touch load
    /// as persisted.
    @Test func aBoundFrameBeforeTheLoadIsAppliedOverThePersistedValues() throws {
        let h = try ControllerHarness(
            config: ["bind": ["door": "unit:plant/door", "regs[2]": "sensor:plant/t1"], "vars": ["regs": [0, 0, 0, 0]]],
            registry: [Self.key: ["door": "closed", "regs": [5, 6, 7, 8], "other": 1]], loadVariables: false)
        h.host.state.withLock { $0.registryGetHeld = true }
        try h.launch()
        func state(_ value: MsgPackValue) -> [UInt8] { (["status": 1, "value": value] as MsgPackValue).encoded() }
        h.frame(topic: "ST/LOC/unit/plant/door", payload: state("ajar"))
        h.frame(topic: "ST/LOC/unit/plant/door", payload: state("open"))
        h.frame(topic: "ST/REM/sensor/plant/t1", payload: state(21.5))
        h.host.state.withLock { $0.registryGetHeld = false }
        #expect(waitUntil { h.code("var.get", ["i": "door"]) == nil })
        #expect(try h.varGet("door") == "open")
        #expect(try h.varGet("regs") == [5, 6, 21.5, 8])
        #expect(try h.varGet("other") == 1)
        // And they are persisted (not taken for the loaded state).
        h.controller.terminate()
        #expect(h.host.registry[Self.key] == ["door": "open", "other": 1, "regs": [5, 6, 21.5, 8]])
    }

    @Test(arguments: [0.0, 2.0])
    func oneWorkerWithoutADataPathWarnsOfWhatAStopLoses(interval: Double) throws {
        let h = try ControllerHarness(config: ["persist_interval": .double(interval)], workers: 1)
        let warning = try #require(h.logs(.warn).first { $0.contains("workers: 1 and no data_path") })
        #expect(warning.contains(interval == 0 ? "last 5.0 s" : "last 2.0 s"))
        try h.launch()
        try h.varSet("v", 1)
        h.stop()
        #expect(h.host.lifecycleCalls.isEmpty)
        #expect(h.logs(.warn).contains { $0.contains("not persisted") })
    }

    // MARK: The core

    @Test func fullStateOnceTheCoreIsActive() throws {
        let h = try ControllerHarness(
            config: ["items": ["sensor:a", "sensor:b"], "vars": ["x": 3], "auto_create": true,
                     "pull": [["var": "x", "map": [["oid": "sensor:p"]]]], "pull_interval": 0.01],
            coreActive: false)
        h.host.state.withLock { $0.coreInactiveTests = 4 }
        try h.launch()
        defer { h.controller.terminate() }
        // Set while the core is inactive: published (and dropped by a core).
        try h.call("set", ["i": "sensor:b", "value": 7])
        try h.call("set", ["i": "sensor:new", "status": 2])
        if !waitUntil(5, { h.controller.fullStatePublished }) {
            let calls = h.host.state.withLock { $0.calls.map(\.method) }
            Issue.record("no full state: \(h.host.logs.map(\.1)) \(calls)")
        }
        let tests = h.host.state.withLock { $0.calls.filter { $0.target == "eva.core" }.count }
        if tests != 5 { Issue.record("\(tests) eva.core test calls, expected 5") }
        let raw = h.host.frames(prefix: "RAW")
        let bulk = try #require(raw.last)
        #expect(bulk.topic == "RAW")
        #expect(PullTests.byOID(bulk.payload) == [
            "sensor:a": ["oid": "sensor:a", "status": 1, "value": nil],
            "sensor:b": ["oid": "sensor:b", "status": 1, "value": 7],
            "sensor:p": ["oid": "sensor:p", "status": 1, "value": 3],
            "sensor:new": ["oid": "sensor:new", "status": 2, "value": nil],
        ])
        // Before it only the sets' own events: the pull published nothing.
        #expect(raw.dropLast().map(\.topic) == ["RAW/sensor/b", "RAW/sensor/new"])
        // After it, changes only.
        sleepSeconds(0.05)
        #expect(h.host.frames(prefix: "RAW").count == raw.count)
        try h.varSet("x", 4)
        #expect(waitUntil { h.host.frames(prefix: "RAW").last?.topic == "RAW/sensor/p" })
        #expect(h.host.frames(prefix: "RAW").last?.payload == ["status": 1, "value": 4])
    }

    @Test func noWaitWhenTheCoreIsAlreadyActive() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a"]], coreActive: true)
        try h.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { h.controller.fullStatePublished })
        #expect(h.host.state.withLock { $0.calls.filter { $0.target == "eva.core" } }.isEmpty)
        #expect(h.host.frames(prefix: "RAW").map(\.topic) == ["RAW"])
    }

    @Test func aSilentCoreIsLoggedOnceAndPolledOn() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a"]], coreActive: false)
        h.host.state.withLock { $0.coreAnswers = false }
        try h.launch()
        defer { h.controller.terminate() }
        let polled = waitUntil { h.host.state.withLock { $0.calls.filter { $0.target == "eva.core" }.count } >= 3 }
        #expect(polled, "\(h.host.logs.map(\.1)) \(h.host.state.withLock { $0.calls.map(\.method) })")
        #expect(!h.controller.fullStatePublished)
        h.host.state.withLock { $0.coreAnswers = true }
        #expect(waitUntil { h.controller.fullStatePublished })
        #expect(h.logs(.warn).filter { $0.contains("eva.core test") }.count == 1)
    }

    /// Sets race the activation: for every item, whatever went out last
    /// (its own event or its entry in the full state) is its state now.
    @Test func theFullStateIsNeverOlderThanAnEventBeforeIt() throws {
        let oids = (0..<8).map { "sensor:race/s\($0)" }
        let h = try ControllerHarness(config: ["items": .array(oids.map { .string($0) })], coreActive: false)
        h.host.state.withLock { $0.coreInactiveTests = 3 }
        try h.launch()
        // Each writer sets its item until a while after the full state went
        // out, so that sets run before, during and after it.
        let finals = Locked<[String: Int64]>([:])
        let writers = oids.map { oid in
            JoinableThread {
                var k: Int64 = 0
                var after = 0
                while after < 200, k < 1_000_000 {
                    do { try h.call("set", ["i": .string(oid), "value": .int(k)]) } catch { break }
                    if h.controller.fullStatePublished { after += 1 }
                    k += 1
                    if k % 64 == 0 { sleepSeconds(0.0005) }
                }
                finals { $0[oid] = k - 1 }
            }!
        }
        writers.forEach { $0.join() }
        #expect(h.controller.fullStatePublished)
        h.controller.terminate()
        var last: [String: MsgPackValue] = [:]
        for frame in h.host.frames(prefix: "RAW") {
            if frame.topic == "RAW" {
                for (oid, entry) in PullTests.byOID(frame.payload) { last[oid] = entry["value"] }
            } else {
                let oid = "sensor:" + frame.topic.dropFirst("RAW/sensor/".count)
                last[oid] = frame.payload?["value"]
            }
        }
        for oid in oids { #expect(last[oid] == finals.value[oid].map { .int($0) }, "\(oid)") }
    }
}
