import EAPI
import Testing
@testable import VirtualController

@Suite struct ConfigTests {
    /// The shipped `eva.controller.virtual` example, as written for it.
    static let shippedExample: MsgPackValue = [
        "items": ["sensor:tests/temp", "sensor:tests/hum", "unit:tests/u1", "unit:tests/door"],
        "pull": [
            [
                "var": "test_array1",
                "map": [["oid": "sensor:tests/temp", "idx": 0], ["oid": "sensor:tests/hum", "idx": 1]],
            ],
            ["var": "test_scalar", "map": [["oid": "sensor:tests/scalar"]]],
        ],
        "pull_interval": 1,
        "action_map": ["unit:tests/u1": ["var": "test_u1"]],
        "auto_create": true,
    ]

    @Test func shippedExampleLoadsUnchanged() throws {
        let h = try ControllerHarness(config: Self.shippedExample)
        let oids = try #require(try h.call("list")?.arrayValue).map { $0["oid"] }
        // Configured items and pull targets exist; status 1, value nil.
        // In the core's order: units, then sensors.
        #expect(oids == ["unit:tests/door", "unit:tests/u1", "sensor:tests/hum", "sensor:tests/scalar",
                         "sensor:tests/temp"])
        #expect(try h.get("sensor:tests/scalar") == ["oid": "sensor:tests/scalar", "status": 1, "value": nil])
        // auto_create is on.
        try h.call("set", ["i": "sensor:tests/extra", "value": 1])
        #expect(try h.get("sensor:tests/extra")?["value"] == 1)
    }

    @Test func projectExampleLoads() throws {
        // examples/virtual.yml of this project: the shipped keys plus ours.
        var config = Self.shippedExample.mapValue!
        config["vars"] = ["test_array1": [20.5, 45]]
        config["units"] = ["unit:tests/door": ["action_time": 2]]
        config["macros"] = ["lmacro:tests/open_doors": ["steps": [["out": "done"]]]]
        config["bind"] = ["door_state": "unit:tests/door"]
        config["macro_workers"] = 2
        config["persist_interval"] = 0.5
        let h = try ControllerHarness(config: .map(config))
        #expect(try h.varGet("test_array1") == [20.5, 45])
    }

    @Test func emptyOrNilConfigIsFine() throws {
        #expect(try ControllerHarness(config: [:]).call("list") == [])
        #expect(try ControllerHarness(config: .nil).call("list") == [])
    }

    @Test func unknownKeyIsRejectedNamingIt() throws {
        do {
            _ = try ControllerHarness(config: ["items": [], "pull_intervall": 1])
            Issue.record("an unknown key was accepted")
        } catch let error as EAPIError {
            #expect(error.code == .invalidParams)
            #expect(error.message.contains("pull_intervall"))
        }
    }

    static let badConfigs: [(MsgPackValue, String)] = [
        ([1, 2], "config"),
        (["items": "sensor:x"], "items"),
        (["items": ["sensor:x", 5]], "items[1]"),
        (["items": ["bogus:x"]], "items[0]"),
        (["auto_create": "yes"], "auto_create"),
        (["pull": ["var": "x"]], "pull"),
        (["pull": ["x"]], "pull[0]"),
        (["pull": [["map": []]]], "pull[0].var"),
        (["pull": [["var": "a]", "map": []]]], "pull[0].var"),
        (["pull": [["var": "a[x]", "map": []]]], "pull[0].var"),
        (["pull": [["var": "a", "map": 5]]], "pull[0].map"),
        (["pull": [["var": "a", "map": [["idx": 1]]]]], "pull[0].map[0].oid"),
        (["pull": [["var": "a", "map": [["oid": "sensor:"]]]]], "pull[0].map[0].oid"),
        (["pull": [["var": "a", "map": [["oid": "sensor:x", "idx": -1]]]]], "pull[0].map[0].idx"),
        (["pull": [["var": "a", "map": [["oid": "sensor:x", "idx": "0"]]]]], "pull[0].map[0].idx"),
        (["pull": [["var": "a", "map": [["oid": "sensor:x", "index": 0]]]]], "index"),
        (["pull": [["var": "a", "map": [], "every": 1]]], "every"),
        (["pull_interval": 0], "pull_interval"),
        (["pull_interval": -1], "pull_interval"),
        (["pull_interval": "1"], "pull_interval"),
        (["action_map": ["unit:u1"]], "action_map"),
        (["action_map": ["u1": ["var": "x"]]], "action_map"),
        (["action_map": ["unit:u1": "x"]], "action_map.unit:u1"),
        (["action_map": ["unit:u1": ["var": 1]]], "action_map.unit:u1.var"),
        (["action_map": ["unit:u1": ["var": "x]"]]], "action_map.unit:u1.var"),
        (["vars": [1]], "vars"),
        (["vars": ["[1]": 1]], "vars"),
        (["vars": ["a[0-1]": 1]], "vars.a[0-1]"),
        (["bind": ["x": 1]], "bind.x"),
        (["bind": ["x": "bogus"]], "bind.x"),
        (["bind": ["x]": "sensor:a"]], "bind"),
        (["bind": "x"], "bind"),
        (["persist_interval": -1], "persist_interval"),
        (["persist_interval": "5"], "persist_interval"),
    ]

    @Test(arguments: badConfigs)
    func badTypesAreInvalidParamsNamingTheKey(config: MsgPackValue, key: String) {
        do {
            _ = try ControllerHarness(config: config, prepare: false)
            Issue.record("accepted \(config)")
        } catch let error as EAPIError {
            #expect(error.code == .invalidParams)
            #expect(error.message.contains(key), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func nilValuesCountAsAbsent() throws {
        let h = try ControllerHarness(config: ["items": nil, "pull": nil, "pull_interval": nil, "vars": nil])
        #expect(try h.call("list") == [])
    }

    @Test func varsSeedsApplyTagsInOrder() throws {
        let h = try ControllerHarness(config: ["vars": ["arr[2]": 5, "arr[0]": "a", "s": 1]])
        #expect(try h.varGet("arr") == ["a", nil, 5])
        #expect(try h.varGet("s") == 1)
    }

    @Test func duplicateItemsAreOneItem() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:x", "sensor:x"]])
        #expect(try h.call("list")?.arrayValue?.count == 1)
    }

    @Test func intervalsAcceptIntegersAndFloats() throws {
        let parsed = try ControllerConfig(["pull_interval": 2, "persist_interval": 0])
        #expect(parsed.pullInterval == 2)
        #expect(parsed.persistInterval == 0)
        let floats = try ControllerConfig(["pull_interval": .float(0.25)])
        #expect(floats.pullInterval == 0.25)
        #expect(floats.persistInterval == 5)
        #expect(try ControllerConfig([:]).pullInterval == 1)
    }
}
