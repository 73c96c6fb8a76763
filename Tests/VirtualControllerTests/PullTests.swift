import EAPI
import Testing
@testable import VirtualController

@Suite struct PullTests {
    static let interval = 0.01

    static func config(vars: MsgPackValue = ["arr": [20.5, 45], "s": "on"]) -> MsgPackValue {
        [
            "pull": [
                ["var": "arr", "map": [["oid": "sensor:t/temp", "idx": 0], ["oid": "sensor:t/hum", "idx": 1]]],
                ["var": "s", "map": [["oid": "lvar:t/state"]]],
            ],
            "pull_interval": .double(interval),
            "vars": vars,
            "persist_interval": 0,
        ]
    }

    func rawFrames(_ h: ControllerHarness) -> [RecordingHost.Frame] { h.host.frames(prefix: "RAW") }

    /// A bulk RAW payload's entries by OID (the item order is `list`'s).
    static func byOID(_ payload: MsgPackValue?) -> [String: MsgPackValue] {
        var out: [String: MsgPackValue] = [:]
        for entry in payload?.arrayValue ?? [] {
            if let oid = entry["oid"]?.stringValue { out[oid] = entry }
        }
        return out
    }

    @Test func theFullStateCarriesEveryPulledItemInOneBulkFrame() throws {
        let h = try ControllerHarness(config: Self.config())
        try h.controller.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { !rawFrames(h).isEmpty })
        let first = try #require(rawFrames(h).first)
        #expect(first.topic == "RAW")
        #expect(first.payload?.arrayValue?.count == 3)
        #expect(Self.byOID(first.payload) == [
            "sensor:t/temp": ["oid": "sensor:t/temp", "status": 1, "value": 20.5],
            "sensor:t/hum": ["oid": "sensor:t/hum", "status": 1, "value": 45],
            "lvar:t/state": ["oid": "lvar:t/state", "status": 1, "value": "on"],
        ])
        #expect(try h.get("sensor:t/hum") == ["oid": "sensor:t/hum", "status": 1, "value": 45])
    }

    @Test func aPulledItemThatNeverChangesIsAnnouncedByTheFullState() throws {
        // The variable holds nil: the mapped item's state (1, nil) never
        // changes, and the full state still announces it, once.
        let h = try ControllerHarness(config: [
            "pull": [["var": "n", "map": [["oid": "sensor:t/n"]]]], "pull_interval": .double(Self.interval),
            "vars": ["n": nil],
        ])
        try h.controller.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { !rawFrames(h).isEmpty })
        sleepSeconds(Self.interval * 5)
        #expect(rawFrames(h).map(\.topic) == ["RAW"])
        #expect(rawFrames(h).first?.payload == [["oid": "sensor:t/n", "status": 1, "value": nil]])
    }

    @Test func laterCyclesPublishOnlyChanges() throws {
        let h = try ControllerHarness(config: Self.config())
        try h.controller.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { !rawFrames(h).isEmpty })
        sleepSeconds(Self.interval * 5)
        // Nothing changed: nothing more.
        #expect(rawFrames(h).count == 1)
        h.host.clearFrames()
        // One item changed: a single-item event on its own topic.
        try h.varSet("arr[1]", 50)
        #expect(waitUntil { !rawFrames(h).isEmpty })
        sleepSeconds(Self.interval * 3)
        #expect(rawFrames(h).map(\.topic) == ["RAW/sensor/t/hum"])
        #expect(rawFrames(h).first?.payload == ["status": 1, "value": 50])
        h.host.clearFrames()
        // Two changed at once: one bulk frame with exactly those two.
        try h.call("var.set_bulk", ["i": ["arr", "s"], "values": [[21, 50], "off"]])
        #expect(waitUntil { !rawFrames(h).isEmpty })
        sleepSeconds(Self.interval * 3)
        #expect(rawFrames(h).map(\.topic) == ["RAW"])
        #expect(rawFrames(h).first?.payload == [
            ["oid": "sensor:t/temp", "status": 1, "value": 21],
            ["oid": "lvar:t/state", "status": 1, "value": "off"],
        ])
    }

    @Test func pullOverwritesAManualSet() throws {
        let h = try ControllerHarness(config: Self.config())
        try h.controller.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { !rawFrames(h).isEmpty })
        try h.call("set", ["i": "sensor:t/temp", "value": 99])
        #expect(waitUntil { (try? h.get("sensor:t/temp")?["value"]) == 20.5 })
        #expect(rawFrames(h).last?.topic == "RAW/sensor/t/temp")
        #expect(rawFrames(h).last?.payload == ["status": 1, "value": 20.5])
    }

    @Test func missingVariableGivesStatusMinusOneOnceAndRecovers() throws {
        let h = try ControllerHarness(config: Self.config(vars: ["arr": [1, 2]]))
        try h.controller.launch()
        defer { h.controller.terminate() }
        // `s` does not exist: its item gets -1 on the first cycle.
        #expect(waitUntil { !rawFrames(h).isEmpty })
        #expect(try h.get("lvar:t/state") == ["oid": "lvar:t/state", "status": -1, "value": nil])
        let first = try #require(rawFrames(h).first?.payload?.arrayValue)
        #expect(first.contains(["oid": "lvar:t/state", "status": -1, "value": nil]))
        sleepSeconds(Self.interval * 5)
        // Logged once, not every cycle; no repeated events.
        #expect(h.logs(.error).filter { $0.contains("lvar:t/state") }.count == 1)
        #expect(rawFrames(h).count == 1)
        // Fixed: back to status 1 with the value.
        try h.varSet("s", 7)
        #expect(waitUntil { (try? h.get("lvar:t/state")) == ["oid": "lvar:t/state", "status": 1, "value": 7] })
        #expect(rawFrames(h).last?.topic == "RAW/lvar/t/state")
        #expect(rawFrames(h).last?.payload == ["status": 1, "value": 7])
        // Broken again: -1 again, logged again, value kept.
        try h.call("var.destroy", ["i": "s"])
        #expect(waitUntil { (try? h.get("lvar:t/state")?["status"]) == -1 })
        #expect(try h.get("lvar:t/state")?["value"] == 7)
        #expect(waitUntil { h.logs(.error).filter { $0.contains("lvar:t/state") }.count == 2 })
    }

    @Test func notAnArrayAndIndexOutOfRangeGiveStatusMinusOne() throws {
        let h = try ControllerHarness(config: Self.config(vars: ["arr": [5], "s": 1]))
        try h.controller.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { !rawFrames(h).isEmpty })
        #expect(try h.get("sensor:t/temp") == ["oid": "sensor:t/temp", "status": 1, "value": 5])
        // idx 1 is past the end of [5].
        #expect(try h.get("sensor:t/hum") == ["oid": "sensor:t/hum", "status": -1, "value": nil])
        #expect(waitUntil { h.logs(.error).contains { $0.contains("sensor:t/hum") && $0.contains("no element 1") } })
        // Not an array any more: both indexed targets fail.
        try h.varSet("arr", "scalar")
        #expect(waitUntil { (try? h.get("sensor:t/temp")?["status"]) == -1 })
        #expect(try h.get("sensor:t/temp")?["value"] == 5)
        #expect(waitUntil { h.logs(.error).contains { $0.contains("sensor:t/temp") && $0.contains("not an array") } })
        // Long enough again: both recover.
        try h.varSet("arr", [1, 2])
        #expect(waitUntil {
            (try? h.get("sensor:t/temp")?["status"]) == 1 && (try? h.get("sensor:t/hum")?["value"]) == 2
        })
    }

    @Test func aFailedPublishIsRepeatedNextCycle() throws {
        let h = try ControllerHarness(config: Self.config())
        // Every publish of the first cycle fails (BUSY past the retries).
        h.host.state.withLock { $0.busyPublishes = 6 }
        try h.controller.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { !rawFrames(h).isEmpty })
        #expect(rawFrames(h).first?.topic == "RAW")
        #expect(rawFrames(h).first?.payload?.arrayValue?.count == 3)
    }

    @Test func terminateWakesThePullThreadAtOnce() throws {
        let h = try ControllerHarness(config: [
            "pull": [["var": "x", "map": [["oid": "sensor:t/x"]]]], "pull_interval": 3600, "vars": ["x": 1],
        ])
        try h.controller.launch()
        #expect(waitUntil { !rawFrames(h).isEmpty })
        let start = MonotonicClock.now()
        h.controller.terminate()
        #expect(MonotonicClock.now() - start < 1_000_000_000)
        // No more host calls from the thread.
        let count = h.host.frames.count
        sleepSeconds(0.05)
        #expect(h.host.frames.count == count)
    }

    @Test func noPullConfiguredPublishesOnlyTheFullState() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a"], "pull_interval": .double(Self.interval)])
        try h.controller.launch()
        #expect(waitUntil { h.controller.fullStatePublished })
        sleepSeconds(Self.interval * 5)
        h.controller.terminate()
        #expect(rawFrames(h).map(\.topic) == ["RAW"])
        #expect(rawFrames(h).first?.payload == [["oid": "sensor:a", "status": 1, "value": nil]])
    }
}
