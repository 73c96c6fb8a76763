import EAPI
import Testing
@testable import VirtualController

/// The shipped `eva.controller.virtual` answers these ways (checked side by
/// side on a node, and in its source); this controller must answer the same.
@Suite struct CompatTests {
    // MARK: OIDs as the core parses them

    @Test func oidKindAliasesAreNormalisedInRepliesAndTopics() throws {
        let h = try ControllerHarness(config: ["items": ["S:g/a", "U:g/u", "LV:g/l", "K:g/k"]])
        let oids = try #require(try h.call("list")?.arrayValue).map { $0["oid"] }
        #expect(oids == ["unit:g/u", "sensor:g/a", "lvar:g/l", "lmacro:g/k"])
        #expect(try h.get("LV:g/l") == ["oid": "lvar:g/l", "status": 1, "value": nil])
        #expect(try h.get("lvar:g/l") == ["oid": "lvar:g/l", "status": 1, "value": nil])
        try h.call("set", ["i": "S:g/a", "value": 1])
        try h.call("set", ["i": "sensor:g/a", "status": 2])
        #expect(h.host.frames.map(\.topic) == ["RAW/sensor/g/a", "RAW/sensor/g/a"])
        #expect(h.host.frames.last?.payload == ["status": 2, "value": 1])
        let k = try #require(OID("K:x/y"))
        #expect(k.kind == .lmacro && k.description == "lmacro:x/y" && k.path == "lmacro/x/y")
        // An alias is not a prefix: the kind is the whole text before the colon.
        for bad in ["Unit:x/y", "u:x/y", "SENSOR:x/y", "lv:x/y", "KK:x/y"] { #expect(OID(bad) == nil, "\(bad)") }
    }

    static let acceptedOIDs = [
        "sensor:a", "sensor:a/b/c", "sensor:a_b.c(d)[e]-f\\g/h", "sensor:日本/温度", "sensor:grp/Ω9",
        "unit:Ⅻ/٣", "lvar:x/y", "lmacro:m/n",
    ]
    static let refusedOIDs = [
        "sensor:a b", "sensor:a+b", "sensor:+", "sensor:g/+", "sensor:+/x", "sensor:a/", "sensor:/a",
        "sensor:a//b", "sensor:a#", "sensor:a:b", "sensor:a\u{1}", "sensor:a,b", "sensor:a*", "sensor:a$",
        "sensor:a😀", "sensor:é b", "sensor:", "sensor", ":a/b", "item:a/b", "",
    ]

    @Test func oidCharactersAreTheCoresOnes() throws {
        for text in Self.acceptedOIDs { #expect(OID(text)?.description == text, "\(text)") }
        for text in Self.refusedOIDs { #expect(OID(text) == nil, "\(text)") }
        // Through the methods: a bad OID is INVALID_DATA, even with auto_create.
        let h = try ControllerHarness(config: ["auto_create": true])
        for text in Self.refusedOIDs {
            #expect(h.code("set", ["i": .string(text), "value": 1]) == .invalidData, "\(text)")
            #expect(h.code("get", ["i": .string(text)]) == .invalidData, "\(text)")
        }
        #expect(h.host.frames.isEmpty)
        for text in Self.acceptedOIDs {
            try h.call("set", ["i": .string(text), "value": 1])
            #expect(try h.get(text)?["oid"] == .string(text))
        }
        #expect(h.host.frames.map(\.topic).contains("RAW/sensor/日本/温度"))
    }

    @Test func oidPathIsAtMost65000Bytes() throws {
        let longest = "sensor:" + String(repeating: "a", count: 65_000)
        let tooLong = "sensor:" + String(repeating: "a", count: 65_001)
        #expect(OID(longest) != nil)
        #expect(OID(tooLong) == nil)
        let h = try ControllerHarness(config: ["auto_create": true])
        try h.call("set", ["i": .string(longest), "value": 1])
        #expect(try h.get(longest)?["value"] == 1)
        #expect(h.code("set", ["i": .string(tooLong), "value": 1]) == .invalidData)
    }

    // MARK: list order

    @Test func listIsByKindThenGroupAndID() throws {
        let h = try ControllerHarness(config: [
            "items": ["lmacro:a/m", "lvar:a/v", "sensor:b", "sensor:a/b", "unit:z", "sensor:a-c", "unit:a/b/c",
                      "sensor:a/a"],
            "auto_create": true,
        ])
        try h.call("set", ["i": "unit:m", "value": 1])
        try h.call("set", ["i": "LV:0", "value": 1])
        let oids = try #require(try h.call("list")?.arrayValue).map { $0["oid"] }
        #expect(oids == ["unit:a/b/c", "unit:m", "unit:z", "sensor:a-c", "sensor:a/a", "sensor:a/b", "sensor:b",
                         "lvar:0", "lvar:a/v", "lmacro:a/m"])
    }

    // MARK: params

    @Test func getIgnoresOtherKeys() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a/b"]])
        #expect(try h.call("get", ["i": "sensor:a/b", "extra": [1, 2], "status": "x"])
            == ["oid": "sensor:a/b", "status": 1, "value": nil])
        #expect(h.code("get", ["i": "sensor:a/none", "extra": 1]) == .notFound)
    }

    @Test func setAndVarDestroyRefuseUnknownKeys() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a/b"], "vars": ["v": 1]])
        #expect(h.code("set", ["i": "sensor:a/b", "value": 5, "extra": 1]) == .invalidData)
        #expect(h.code("set", ["i": "sensor:a/b", "t": 1.5]) == .invalidData)
        let nonStringKey = MsgPackValue.map(MsgPackMap([(key: "i", value: "sensor:a/b"), (key: 1, value: 2)]))
        #expect(h.code("set", nonStringKey) == .invalidData)
        #expect(h.host.frames.isEmpty)
        #expect(try h.get("sensor:a/b")?["value"] == .nil)
        #expect(h.code("var.destroy", ["i": "v", "extra": 1]) == .invalidData)
        #expect(try h.varGet("v") == 1)
        // The methods whose params the shipped controller reads leniently stay lenient.
        try h.call("var.set", ["i": "v", "value": 2, "extra": 1])
        #expect(try h.call("var.get", ["i": "v", "extra": 1]) == 2)
        #expect(try h.call("var.list", ["full": true, "extra": 1]) == [["id": "v", "value": 2]])
    }

    /// The shipped controller takes a list in place of the `set` map (serde
    /// reads a struct from a sequence); ours refuses it.
    @Test func setWithAListInPlaceOfTheMapIsInvalidData() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a/b"]])
        #expect(h.code("set", ["sensor:a/b", 1, 5]) == .invalidData)
        #expect(h.code("set", [["i": "sensor:a/b", "value": 5]]) == .invalidData)
        #expect(h.host.frames.isEmpty)
    }

    static let methodsNeedingParams = ["get", "set", "var.get", "var.set", "var.set_bulk", "var.destroy", "action",
                                       "run", "terminate", "kill"]

    @Test func noPayloadIsInvalidParamsAndANilPayloadInvalidData() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a/b"], "vars": ["v": 1]])
        for method in Self.methodsNeedingParams {
            #expect(h.code(method, nil) == .invalidParams, "\(method)")
            #expect(h.code(method, .nil) == .invalidData, "\(method)")
            #expect(h.code(method, 5) == .invalidData, "\(method)")
        }
        #expect(h.code("var.list", nil) == nil)
        #expect(h.code("var.list", .nil) == .invalidData)
        #expect(h.code("list", .nil) == .invalidParams)
        #expect(h.codeRaw(Array("no.such".utf8), [0xC1]) == .methodNotFound)
        #expect(h.code("no.such", nil) == .methodNotFound)
    }

    // MARK: config written for the shipped controller

    @Test func pullAndActionMapTakeAnyTagAndPullMapMayBeLeftOut() throws {
        let h = try ControllerHarness(config: [
            "vars": ["arr": [1, 2, 3]],
            "pull": [
                ["var": "arr[1]", "map": [["oid": "sensor:p/one"]]],
                ["var": "arr[0-1]", "map": [["oid": "sensor:p/two"]]],
                ["var": "arr", "map": [["oid": "sensor:p/three", "idx": 2]]],
                ["var": "lonely"],
            ],
            "pull_interval": 0.05,
            "action_map": ["unit:u/a": ["var": "out[2]"], "unit:u/b": ["var": "arr[0-1]"]],
            "items": ["unit:u/a", "unit:u/b"],
        ])
        try h.controller.launch()
        defer { h.controller.terminate() }
        #expect(waitUntil { (try? h.get("sensor:p/three")?["value"]) == 3 })
        #expect(try h.get("sensor:p/one")?["value"] == 2)
        #expect(try h.get("sensor:p/two")?["value"] == [1, 2])
        try h.call("action", ["uuid": .binary(Array(repeating: 1, count: 16)), "i": "unit:u/a",
                              "params": ["value": 9]])
        #expect(try h.varGet("out") == [nil, nil, 9])
        try h.call("action", ["uuid": .binary(Array(repeating: 2, count: 16)), "i": "unit:u/b",
                              "params": ["value": [7, 8]]])
        #expect(try h.varGet("arr") == [7, 8, 3])
        #expect(waitUntil { (try? h.get("sensor:p/one")?["value"]) == 8 })
    }

    // MARK: actions

    static func uuid(_ n: UInt8) -> MsgPackValue { .binary([0xC0] + Array(repeating: 0, count: 14) + [n]) }

    /// Launches, then waits for the full-state publication (one bulk RAW
    /// once the core is active), so what follows is the test's own events.
    static func launchSettled(_ h: ControllerHarness) throws {
        try h.controller.launch()
        #expect(waitUntil { h.controller.fullStatePublished })
    }

    /// Per-item events as "topic status"; the bulk full state is left out.
    static func trace(_ h: ControllerHarness) -> [String] {
        h.host.frames.filter { $0.topic != "RAW" }.map { f in
            let s = f.payload?["status"]?.int64Value.map { "\($0)" } ?? "-"
            return "\(f.topic) \(s)"
        }
    }

    @Test(arguments: ["unit:u/a", "sensor:s/b", "lvar:l/c", "U:u/a", "S:s/b"])
    func actionWithoutAUnitsEntryActsBeforeTheCallReturns(oid: String) throws {
        let h = try ControllerHarness(config: [
            "items": ["unit:u/a", "sensor:s/b", "lvar:l/c"],
            "action_map": ["unit:u/a": ["var": "pos"], "sensor:s/b": ["var": "pos"], "lvar:l/c": ["var": "pos"]],
        ])
        let full = try #require(OID(oid))
        try h.call("set", ["i": .string(oid), "status": -1, "value": 0])
        let before = h.host.frames.count
        // No engine threads run (no launch): the action needs none.
        try h.call("action", ["uuid": Self.uuid(1), "i": .string(oid), "timeout": 1_000_000, "priority": 100,
                              "params": ["value": 42]])
        // Right after the call: state, variable and COMPLETED are all there.
        #expect(try h.get(oid) == ["oid": .string(full.description), "status": 1, "value": 42])
        #expect(try h.varGet("pos") == 42)
        let frames = Array(h.host.frames.dropFirst(before))
        #expect(frames.map(\.topic) == ["RAW/\(full.path)", "ACT/\(full.path)"])
        #expect(frames.first?.payload == ["status": 1, "value": 42])
        #expect(frames.last?.payload == ["uuid": Self.uuid(1), "status": 15, "exitcode": 0])
    }

    @Test func actionOnAnUnknownItemIsNotFoundUnlessAutoCreate() throws {
        let h = try ControllerHarness(config: ["items": ["unit:u/a"]])
        #expect(h.code("action", ["uuid": Self.uuid(1), "i": "unit:u/none", "params": ["value": 1]]) == .notFound)
        #expect(h.host.frames.isEmpty)
        let a = try ControllerHarness(config: ["auto_create": true])
        try a.call("action", ["uuid": Self.uuid(1), "i": "sensor:new/x", "params": ["value": 1]])
        #expect(try a.get("sensor:new/x") == ["oid": "sensor:new/x", "status": 1, "value": 1])
        #expect(Self.trace(a) == ["RAW/sensor/new/x 1", "ACT/sensor/new/x 15"])
    }

    @Test func actionParamsWithoutValueIsMethodNotImplemented() throws {
        let h = try ControllerHarness(config: ["items": ["unit:u/a"], "units": ["unit:u/t": ["action_time": 0]]])
        for oid in ["unit:u/a", "unit:u/t"] {
            for params: MsgPackValue in [[:], ["x": 1]] {
                let p: MsgPackValue = ["uuid": Self.uuid(1), "i": .string(oid), "params": params]
                #expect(h.code("action", p) == .methodNotImplemented, "\(oid) \(params)")
            }
            // params absent or not a map: the payload does not decode.
            #expect(h.code("action", ["uuid": Self.uuid(1), "i": .string(oid)]) == .invalidData)
            #expect(h.code("action", ["uuid": Self.uuid(1), "i": .string(oid), "params": nil]) == .invalidData)
            #expect(h.code("action", ["uuid": Self.uuid(1), "i": .string(oid), "params": [1]]) == .invalidData)
        }
        #expect(h.host.frames.isEmpty)
    }

    @Test func actionUUIDMustBe16BytesOfBin() throws {
        let h = try ControllerHarness(config: ["items": ["unit:u/a"]])
        for uuid: MsgPackValue in [
            "c0000000-0000-0000-0000-000000000001", .binary(Array(repeating: 1, count: 15)),
            .binary(Array(repeating: 1, count: 17)), 5, nil, [1, 2],
        ] {
            #expect(h.code("action", ["uuid": uuid, "i": "unit:u/a", "params": ["value": 1]]) == .invalidData,
                    "\(uuid)")
        }
        #expect(h.code("action", ["i": "unit:u/a", "params": ["value": 1]]) == .invalidData)
        #expect(h.host.frames.isEmpty)
    }

    /// The bug seen once: a unit worker started the action and published its
    /// RAW state while the calling thread was still publishing PENDING. A
    /// slow PENDING publish makes that window wide.
    @Test func pendingGoesOutBeforeAnythingElseOfATimedAction() throws {
        let h = try ControllerHarness(config: [
            "units": ["unit:t/fast": ["action_time": 0]],
            "action_map": ["unit:t/fast": ["var": "pos"]],
        ])
        h.host.state.withLock { $0.slowPendingMicroseconds = 30_000 }
        try Self.launchSettled(h)
        defer { h.controller.terminate() }
        for n in UInt8(1)...3 {
            let before = Self.trace(h).count
            try h.call("action", ["uuid": Self.uuid(n), "i": "unit:t/fast", "params": ["value": .int(Int64(n))]])
            #expect(waitUntil { Self.trace(h).count - before >= 4 })
            let trace = Array(Self.trace(h).dropFirst(before))
            #expect(trace == ["ACT/unit/t/fast 2", "ACT/unit/t/fast 8", "RAW/unit/t/fast 1", "ACT/unit/t/fast 15"])
        }
        #expect(try h.varGet("pos") == 3)
    }

    @Test func pendingGoesOutBeforeAnythingElseOfAMacroRunAndItsActionStep() throws {
        let h = try ControllerHarness(config: [
            "items": ["sensor:m/s"],
            "units": ["unit:t/fast": ["action_time": 0]],
            "macros": ["lmacro:t/m": ["steps": [["set": ["i": "sensor:m/s", "value": 1]],
                                                ["action": ["i": "unit:t/fast", "value": 2]]]]],
        ])
        h.host.state.withLock { $0.slowPendingMicroseconds = 30_000 }
        try Self.launchSettled(h)
        defer { h.controller.terminate() }
        try h.call("run", ["uuid": Self.uuid(1), "i": "lmacro:t/m"])
        #expect(waitUntil { Self.trace(h).contains("ACT/lmacro/t/m 15") })
        #expect(waitUntil { Self.trace(h).contains("ACT/unit/t/fast 15") })
        let trace = Self.trace(h)
        // The run's PENDING before its RUNNING and its first step's RAW; the
        // step's action: PENDING, RUNNING, RAW, COMPLETED. (The run and its
        // step publish on two topics; their COMPLETED may come either way.)
        #expect(Array(trace.prefix(3)) == ["ACT/lmacro/t/m 2", "ACT/lmacro/t/m 8", "RAW/sensor/m/s 1"])
        #expect(trace.filter { $0.hasPrefix("ACT/lmacro/") } == ["ACT/lmacro/t/m 2", "ACT/lmacro/t/m 8",
                                                                "ACT/lmacro/t/m 15"])
        #expect(trace.filter { $0.contains("/unit/t/fast") }
            == ["ACT/unit/t/fast 2", "ACT/unit/t/fast 8", "RAW/unit/t/fast 1", "ACT/unit/t/fast 15"])
    }

    /// A kill that comes while the action's PENDING is still going out (the
    /// job accepted, not yet queued) cancels it: it never runs.
    @Test func killWhilePendingIsPublishedCancelsTheAction() throws {
        let h = try ControllerHarness(config: ["units": ["unit:t/k": ["action_time": 0]]])
        h.host.state.withLock { $0.slowPendingMicroseconds = 300_000 }
        try Self.launchSettled(h)
        defer { h.controller.terminate() }
        let code = Locked<EAPIErrorCode?>(.other)
        let caller = try #require(JoinableThread {
            let c = h.code("action", ["uuid": Self.uuid(1), "i": "unit:t/k", "params": ["value": 1]])
            code { $0 = c }
        })
        // The call is inside its PENDING publish (300 ms) by now.
        sleepSeconds(0.1)
        try h.call("kill", ["i": "unit:t/k"])
        caller.join()
        #expect(code.value == nil)
        #expect(waitUntil { Self.trace(h).count >= 2 })
        sleepSeconds(0.05)
        #expect(Self.trace(h) == ["ACT/unit/t/k 2", "ACT/unit/t/k 129"])
    }

    @Test func aRunningActionPastItsTimeoutFailsWithActionTimeout() throws {
        let h = try ControllerHarness(config: ["units": ["unit:t/slow": ["action_time": 10]]])
        try Self.launchSettled(h)
        defer { h.controller.terminate() }
        try h.call("action", ["uuid": Self.uuid(1), "i": "unit:t/slow", "timeout": 50_000,
                              "params": ["value": 1]])
        #expect(waitUntil { Self.trace(h).count >= 3 })
        #expect(Self.trace(h) == ["ACT/unit/t/slow 2", "ACT/unit/t/slow 8", "ACT/unit/t/slow 128"])
        #expect(h.host.frames.last?.payload
            == ["uuid": Self.uuid(1), "status": 128, "err": "action timeout", "exitcode": -32008])
        #expect(try h.get("unit:t/slow")?["value"] == .nil)
    }

    // MARK: where the shipped controller is broken

    /// It never creates `config.items` (it fills a map it then drops).
    @Test func configItemsExist() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a/b"]])
        #expect(try h.get("sensor:a/b") == ["oid": "sensor:a/b", "status": 1, "value": nil])
    }

    /// It panics on `pull_interval: 0` (a zero tokio interval); ours refuses
    /// the config with a message.
    @Test func pullIntervalZeroIsRefusedNotAPanic() {
        #expect(throws: EAPIError(.invalidParams)) {
            _ = try ControllerHarness(config: ["pull_interval": 0], prepare: false)
        }
    }
}
