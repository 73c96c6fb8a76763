import EAPI
import Testing
@testable import VirtualController

@Suite struct FailModeTests {
    static let config: MsgPackValue = [
        "items": ["sensor:f/a", "unit:f/u"],
        "pull": [["var": "v", "map": [["oid": "sensor:f/p"]]]],
        "auto_create": true,
    ]

    @Test func reactToFailMarksEveryConfiguredItem() throws {
        let h = try ControllerHarness(config: Self.config, failMode: true, reactToFail: true)
        let raw = h.host.frames(prefix: "RAW")
        #expect(Set(raw.map(\.topic)) == ["RAW/sensor/f/a", "RAW/unit/f/u", "RAW/sensor/f/p"])
        #expect(raw.count == 3)
        for frame in raw { #expect(frame.payload == ["status": -1, "value": nil], "\(frame.topic)") }
        for oid in ["sensor:f/a", "unit:f/u", "sensor:f/p"] {
            #expect(try h.get(oid)?["status"] == -1, "\(oid)")
        }
    }

    @Test func failModeKeepsValues() throws {
        // Items created later (auto_create) are not configured: untouched.
        let h = try ControllerHarness(config: Self.config, failMode: true, reactToFail: true)
        try h.call("set", ["i": "sensor:f/new", "value": 1])
        #expect(try h.get("sensor:f/new")?["status"] == 1)
    }

    @Test func failModeWithoutReactToFailOnlyWarns() throws {
        let h = try ControllerHarness(config: Self.config, failMode: true, reactToFail: false)
        #expect(h.host.frames(prefix: "RAW").isEmpty)
        #expect(try h.get("sensor:f/a")?["status"] == 1)
        #expect(h.logs(.warn).contains { $0.contains("fail mode") })
    }

    @Test func noFailModeNoEvents() throws {
        let h = try ControllerHarness(config: Self.config, failMode: false, reactToFail: true)
        #expect(h.host.frames(prefix: "RAW").isEmpty)
        #expect(!h.logs(.warn).contains { $0.contains("fail mode") })
    }

    @Test func eventsComeOnlyAfterPrepare() throws {
        let h = try ControllerHarness(config: Self.config, failMode: true, reactToFail: true, prepare: false)
        #expect(h.host.frames.isEmpty)
        try h.controller.prepare()
        #expect(h.host.frames(prefix: "RAW").count == 3)
    }
}
