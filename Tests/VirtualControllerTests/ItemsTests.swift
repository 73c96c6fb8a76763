import EAPI
import Testing
@testable import VirtualController

@Suite struct ItemsTests {
    static let config: MsgPackValue = [
        "items": ["unit:tests/u1", "sensor:tests/temp", "sensor:tests/hum", "lvar:a/b/c"],
    ]

    // MARK: list

    @Test func listIsInCoreOrderWithExactFields() throws {
        let h = try ControllerHarness(config: Self.config)
        let reply = try h.call("list")
        // The core's order: unit, sensor, lvar, lmacro; then group/id.
        #expect(reply == [
            ["oid": "unit:tests/u1", "status": 1, "value": nil],
            ["oid": "sensor:tests/hum", "status": 1, "value": nil],
            ["oid": "sensor:tests/temp", "status": 1, "value": nil],
            ["oid": "lvar:a/b/c", "status": 1, "value": nil],
        ])
    }

    @Test func listKeepsOrderAfterAutoCreate() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:b", "sensor:d"], "auto_create": true])
        try h.call("set", ["i": "sensor:c", "value": 3])
        try h.call("set", ["i": "sensor:a", "status": 2])
        try h.call("set", ["i": "sensor:e"])
        let oids = try #require(try h.call("list")?.arrayValue).map { $0["oid"] }
        #expect(oids == ["sensor:a", "sensor:b", "sensor:c", "sensor:d", "sensor:e"])
    }

    @Test func listEmpty() throws {
        let h = try ControllerHarness()
        #expect(try h.call("list") == [])
    }

    @Test func listWithAnyPayloadIsInvalidParams() throws {
        let h = try ControllerHarness(config: Self.config)
        #expect(h.code("list", .nil) == .invalidParams)
        #expect(h.code("list", [:]) == .invalidParams)
        #expect(h.code("list", ["i": "unit:tests/u1"]) == .invalidParams)
        #expect(h.codeRaw(Array("list".utf8), [0xC1]) == .invalidParams)
    }

    // MARK: get

    @Test func getHasExactlyOidStatusValue() throws {
        let h = try ControllerHarness(config: Self.config)
        let reply = try #require(try h.get("sensor:tests/temp"))
        #expect(reply == ["oid": "sensor:tests/temp", "status": 1, "value": nil])
        #expect(reply.mapValue?.count == 3)
    }

    @Test func getUnknownIsNotFound() throws {
        let h = try ControllerHarness(config: Self.config)
        #expect(h.code("get", ["i": "sensor:tests/nope"]) == .notFound)
        #expect(h.code("get", ["i": "unit:tests/temp"]) == .notFound)
    }

    @Test func getBadParams() throws {
        let h = try ControllerHarness(config: Self.config)
        #expect(h.code("get", nil) == .invalidParams)
        #expect(h.code("get", .nil) == .invalidData)
        #expect(h.code("get", [:]) == .invalidData)
        #expect(h.code("get", ["x": "sensor:tests/temp"]) == .invalidData)
        #expect(h.code("get", ["i": 1]) == .invalidData)
        #expect(h.code("get", ["i": nil]) == .invalidData)
        #expect(h.code("get", ["sensor:tests/temp"]) == .invalidData)
        #expect(h.code("get", "sensor:tests/temp") == .invalidData)
        // OIDs that do not parse.
        for bad in ["", "sensor", "sensor:", "bogus:tests/temp", "sensor:/x", "sensor:a//b", "sensor:a/", "sensor:a#"] {
            #expect(h.code("get", ["i": .string(bad)]) == .invalidData, "\(bad)")
        }
        // Valid map followed by junk, a truncated map, a truncated string.
        let valid = (["i": "sensor:tests/temp"] as MsgPackValue).encoded()
        #expect(h.codeRaw(Array("get".utf8), valid + [0x00]) == .invalidData)
        #expect(h.codeRaw(Array("get".utf8), Array(valid.dropLast())) == .invalidData)
        #expect(h.codeRaw(Array("get".utf8), [0x81, 0xA1, 0x69, 0xA5, 0x61]) == .invalidData)
        #expect(h.codeRaw(Array("get".utf8), [0x82, 0xA1, 0x69]) == .invalidData)
        #expect(h.codeRaw(Array("get".utf8), [0xC1]) == .invalidData)
    }

    @Test func getToleratesExtraFieldsAndOtherKeyTypes() throws {
        let h = try ControllerHarness(config: Self.config)
        // A map with an int key, a nested map and a bin before `i`.
        let payload = MsgPackValue.map(MsgPackMap([
            (key: .int(7), value: [1, ["z": 2]]),
            (key: "blob", value: .binary([1, 2, 3])),
            (key: "i", value: "unit:tests/u1"),
            (key: "f", value: .double(1.5)),
        ]))
        #expect(try h.call("get", payload)?["oid"] == "unit:tests/u1")
    }

    // MARK: set

    @Test func setPublishesRawEvent() throws {
        let h = try ControllerHarness(config: Self.config)
        #expect(try h.call("set", ["i": "sensor:tests/temp", "status": 1, "value": 25.5]) == nil)
        #expect(try h.get("sensor:tests/temp") == ["oid": "sensor:tests/temp", "status": 1, "value": 25.5])
        let frames = h.host.frames(prefix: "RAW")
        #expect(frames.count == 1)
        #expect(frames.first?.topic == "RAW/sensor/tests/temp")
        #expect(frames.first?.payload == ["status": 1, "value": 25.5])
    }

    @Test func setOmittedFieldsKeepTheirValue() throws {
        let h = try ControllerHarness(config: Self.config)
        try h.call("set", ["i": "lvar:a/b/c", "status": 5, "value": "v"])
        try h.call("set", ["i": "lvar:a/b/c", "status": 7])
        #expect(try h.get("lvar:a/b/c") == ["oid": "lvar:a/b/c", "status": 7, "value": "v"])
        try h.call("set", ["i": "lvar:a/b/c", "value": [1, 2]])
        #expect(try h.get("lvar:a/b/c") == ["oid": "lvar:a/b/c", "status": 7, "value": [1, 2]])
        // A nil status counts as omitted.
        try h.call("set", ["i": "lvar:a/b/c", "status": nil])
        #expect(try h.get("lvar:a/b/c")?["status"] == 7)
        // An explicit nil value sets nil.
        try h.call("set", ["i": "lvar:a/b/c", "value": nil])
        #expect(try h.get("lvar:a/b/c") == ["oid": "lvar:a/b/c", "status": 7, "value": nil])
        #expect(h.host.frames(topic: "RAW/lvar/a/b/c").map(\.payload) == [
            ["status": 5, "value": "v"], ["status": 7, "value": "v"], ["status": 7, "value": [1, 2]],
            ["status": 7, "value": [1, 2]], ["status": 7, "value": nil],
        ])
    }

    @Test func setStatusRange() throws {
        let h = try ControllerHarness(config: Self.config)
        try h.call("set", ["i": "unit:tests/u1", "status": -32768])
        #expect(try h.get("unit:tests/u1")?["status"] == -32768)
        try h.call("set", ["i": "unit:tests/u1", "status": 32767])
        #expect(try h.get("unit:tests/u1")?["status"] == 32767)
        for bad in [32768, -32769, .uint(UInt64.max), 1.5, "1", true, [1]] as [MsgPackValue] {
            #expect(h.code("set", ["i": "unit:tests/u1", "status": bad]) == .invalidData, "\(bad)")
        }
        #expect(try h.get("unit:tests/u1")?["status"] == 32767)
    }

    @Test func setUnknownWithoutAutoCreateIsNotFound() throws {
        let h = try ControllerHarness(config: Self.config)
        #expect(h.code("set", ["i": "sensor:tests/new", "value": 1]) == .notFound)
        #expect(h.code("get", ["i": "sensor:tests/new"]) == .notFound)
        #expect(h.host.frames(prefix: "RAW").isEmpty)
    }

    @Test func setUnknownWithAutoCreateCreates() throws {
        let h = try ControllerHarness(config: ["auto_create": true])
        try h.call("set", ["i": "sensor:tests/new", "value": 1])
        #expect(try h.get("sensor:tests/new") == ["oid": "sensor:tests/new", "status": 1, "value": 1])
        try h.call("set", ["i": "sensor:tests/other", "status": -1])
        #expect(try h.get("sensor:tests/other") == ["oid": "sensor:tests/other", "status": -1, "value": nil])
        #expect(h.host.frames(prefix: "RAW").map(\.topic) == ["RAW/sensor/tests/new", "RAW/sensor/tests/other"])
        #expect(h.host.frames(topic: "RAW/sensor/tests/other").first?.payload == ["status": -1, "value": nil])
    }

    @Test func setBadParams() throws {
        let h = try ControllerHarness(config: ["auto_create": true])
        #expect(h.code("set", nil) == .invalidParams)
        #expect(h.code("set", .nil) == .invalidData)
        #expect(h.code("set", [:]) == .invalidData)
        #expect(h.code("set", ["status": 1]) == .invalidData)
        #expect(h.code("set", ["i": 5]) == .invalidData)
        #expect(h.code("set", ["i": "nokind", "value": 1]) == .invalidData)
        #expect(h.code("set", ["i": "thing:x/y", "value": 1]) == .invalidData)
        #expect(h.code("set", [1, 2, 3]) == .invalidData)
        #expect(try h.call("list") == [])
    }

    @Test func setRetriesWhileTheQueueIsFull() throws {
        let h = try ControllerHarness(config: Self.config)
        h.host.state.withLock { $0.busyPublishes = 2 }
        try h.call("set", ["i": "sensor:tests/hum", "value": 60])
        #expect(h.host.frames(topic: "RAW/sensor/tests/hum").map(\.payload) == [["status": 1, "value": 60]])
    }

    @Test func setLogsWhenThePublishFinallyFails() throws {
        let h = try ControllerHarness(config: Self.config)
        h.host.state.withLock { $0.busyPublishes = 1000 }
        // The state changes even when the event cannot go out; an error is logged.
        try h.call("set", ["i": "sensor:tests/hum", "value": 61])
        #expect(try h.get("sensor:tests/hum")?["value"] == 61)
        #expect(h.logs(.error).contains { $0.contains("RAW/sensor/tests/hum") })
    }
}
