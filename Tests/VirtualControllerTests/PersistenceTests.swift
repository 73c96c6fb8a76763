import EAPI
import Synchronization
import Testing
@testable import VirtualController

@Suite struct PersistenceTests {
    static let key = "eva/svc_data/test.virtual/vars"
    static let seeds: MsgPackValue = ["vars": ["seed": 1, "arr": [1, 2]], "persist_interval": 0]

    @Test func loadsPersistedVariablesInsteadOfSeeds() throws {
        let h = try ControllerHarness(config: Self.seeds, registry: [Self.key: ["kept": "yes", "arr": [9]]])
        #expect(try h.varGet("kept") == "yes")
        #expect(try h.varGet("arr") == [9])
        // Configured but never persisted: created with its configured value.
        #expect(try h.varGet("seed") == 1)
        #expect(h.host.state.withLock { $0.calls.first.map { "\($0.target) \($0.method)" } } == "eva.registry key_get")
    }

    @Test func keyUsesTheServiceID() throws {
        let h = try ControllerHarness(config: Self.seeds, registry: ["eva/svc_data/plant.v2/vars": ["x": 1]],
                                      id: "plant.v2")
        #expect(try h.varGet("x") == 1)
    }

    @Test func notFoundMeansNoneYetAndSeedsApply() throws {
        let h = try ControllerHarness(config: Self.seeds)
        #expect(try h.varGet("seed") == 1)
        #expect(try h.varGet("arr") == [1, 2])
        #expect(h.logs(.error).isEmpty)
    }

    @Test func registryErrorKeepsSeedsAndLogsAnError() throws {
        let h = try ControllerHarness(config: Self.seeds, registryError: EAPIError(.io, "disk"))
        #expect(try h.varGet("seed") == 1)
        #expect(h.logs(.error).contains { $0.contains(Self.key) })
        // The controller still started.
        #expect(try h.call("var.list")?.arrayValue?.count == 2)
    }

    @Test func persistedValueNotAMapWarnsAndKeepsSeeds() throws {
        let h = try ControllerHarness(config: Self.seeds, registry: [Self.key: [1, 2, 3]])
        #expect(try h.varGet("seed") == 1)
        #expect(h.logs(.warn).contains { $0.contains("not a map") })
    }

    @Test func badPersistedNamesAreSkipped() throws {
        let h = try ControllerHarness(
            config: ["persist_interval": 0],
            registry: [Self.key: .map(MsgPackMap([(key: "ok", value: 1), (key: "bad[1]", value: 2), (key: 5, value: 3)]))])
        #expect(try h.call("var.list") == [["id": "ok"]])
        #expect(h.logs(.warn).count == 2)
    }

    @Test func writesAtTerminate() throws {
        let h = try ControllerHarness(config: Self.seeds)
        try h.varSet("arr[3]", "x")
        try h.varSet("new", ["a": 1])
        h.controller.terminate()
        #expect(h.host.registry[Self.key] == ["arr": [1, 2, nil, "x"], "new": ["a": 1], "seed": 1])
        #expect(h.registryCalls == ["key_get", "key_set"])
    }

    @Test func writesAtTerminateAfterLaunch() throws {
        let h = try ControllerHarness(config: Self.seeds)
        try h.controller.launch()
        try h.call("var.destroy", ["i": "seed"])
        try h.call("var.set_bulk", ["i": ["b"], "values": [2]])
        h.controller.terminate()
        #expect(h.host.registry[Self.key] == ["arr": [1, 2], "b": 2])
    }

    @Test func bindAndActionChangesArePersistedToo() throws {
        let h = try ControllerHarness(config: ["bind": ["door": "unit:d"], "persist_interval": 0])
        h.frame(topic: "ST/LOC/unit/d", payload: (["status": 1, "value": "open"] as MsgPackValue).encoded())
        h.controller.terminate()
        #expect(h.host.registry[Self.key] == ["door": "open"])
    }

    @Test func aBusyRegistryAtStopIsRetried() throws {
        let h = try ControllerHarness(config: Self.seeds)
        try h.varSet("kept", 1)
        h.host.state.withLock { $0.registryError = EAPIError(.busy) }
        let healer = JoinableThread {
            sleepSeconds(0.08)
            h.host.state.withLock { $0.registryError = nil }
        }!
        h.controller.terminate()
        healer.join()
        #expect(h.host.registry[Self.key]?["kept"] == 1)
        #expect(h.logs(.error).contains { $0.contains("cannot persist") })
    }

    @Test func unchangedVariablesAreNotWritten() throws {
        let h = try ControllerHarness(config: ["vars": ["a": 5], "persist_interval": 0], registry: [Self.key: ["a": 1]])
        _ = try h.varGet("a")
        h.controller.terminate()
        #expect(h.registryCalls == ["key_get"])
    }

    @Test func aFailedLoadDoesNotOverwriteTheRegistryWithSeeds() throws {
        let h = try ControllerHarness(config: Self.seeds, registry: [Self.key: ["real": 1]],
                                      registryError: EAPIError(.timeout))
        h.host.state.withLock { $0.registryError = nil }
        h.controller.terminate()
        #expect(h.host.registry[Self.key] == ["real": 1])
    }

    @Test func writeThroughEveryPersistInterval() throws {
        let h = try ControllerHarness(config: ["persist_interval": 0.02])
        try h.controller.launch()
        defer { h.controller.terminate() }
        try h.varSet("live", 1)
        #expect(waitUntil { h.host.registry[Self.key] == ["live": 1] })
        try h.varSet("live", 2)
        #expect(waitUntil { h.host.registry[Self.key] == ["live": 2] })
        // Nothing changed: no more writes.
        let writes = h.registryCalls.filter { $0 == "key_set" }.count
        sleepSeconds(0.1)
        #expect(h.registryCalls.filter { $0 == "key_set" }.count == writes)
    }

    @Test func persistIntervalZeroWritesOnlyAtStop() throws {
        let h = try ControllerHarness(config: ["persist_interval": 0])
        try h.controller.launch()
        try h.varSet("v", 1)
        sleepSeconds(0.1)
        #expect(!h.registryCalls.contains("key_set"))
        h.controller.terminate()
        #expect(h.host.registry[Self.key] == ["v": 1])
    }

    @Test func aFailedWriteThroughIsRetriedAndLogged() throws {
        let h = try ControllerHarness(config: ["persist_interval": 0.02])
        h.host.state.withLock { $0.registryError = EAPIError(.busy) }
        try h.controller.launch()
        defer { h.controller.terminate() }
        try h.varSet("v", 1)
        #expect(waitUntil { h.logs(.error).contains { $0.contains("cannot persist") } })
        h.host.state.withLock { $0.registryError = nil }
        #expect(waitUntil { h.host.registry[Self.key] == ["v": 1] })
    }

    @Test func nothingSetBeforeStopIsLost() throws {
        // Writers race terminate; every write that was answered OK is in
        // the registry afterwards.
        let h = try ControllerHarness(config: ["persist_interval": 0.005])
        try h.controller.launch()
        let accepted = Locked<[Int]>([])
        let threads = (0..<2).map { t in
            JoinableThread {
                for n in 0..<2000 {
                    do {
                        try h.varSet("w\(t)_\(n)", .int(Int64(n)))
                        accepted { $0.append(t * 100_000 + n) }
                    } catch {
                        break
                    }
                }
            }!
        }
        // Race terminate against writes in progress, not against threads
        // that a loaded machine has not scheduled yet.
        #expect(waitUntil { accepted.value.count >= 50 })
        h.controller.terminate()
        threads.forEach { $0.join() }
        let stored = try #require(h.host.registry[Self.key]?.mapValue)
        for code in accepted.value {
            let name = "w\(code / 100_000)_\(code % 100_000)"
            #expect(stored[name] == .int(Int64(code % 100_000)), "\(name)")
        }
    }
}
