import EAPI
import Testing
@testable import VirtualController

/// Every row of the spec's Variables table, with its errors and edge cases.
@Suite struct VariablesTests {
    static let seeds: MsgPackValue = [
        "arr": [10, 11, 12, 13],
        "empty": [],
        "short": [1],
        "scalar": 42,
        "text": "hello",
        "nothing": nil,
    ]

    func harness() throws -> ControllerHarness { try ControllerHarness(config: ["vars": Self.seeds]) }

    // MARK: var.get

    @Test func getWholeValues() throws {
        let h = try harness()
        #expect(try h.varGet("arr") == [10, 11, 12, 13])
        #expect(try h.varGet("scalar") == 42)
        #expect(try h.varGet("text") == "hello")
        #expect(try h.varGet("empty") == [])
        // A variable holding nil answers a nil payload, not "no payload".
        #expect(try h.varGet("nothing") == .some(.nil))
    }

    @Test func getUnknownNameIsNotFound() throws {
        let h = try harness()
        #expect(h.code("var.get", ["i": "missing"]) == .notFound)
        #expect(h.code("var.get", ["i": "missing[0]"]) == .notFound)
        #expect(h.code("var.get", ["i": "missing[0-2]"]) == .notFound)
        #expect(h.code("var.get", ["i": "missing[1-]"]) == .notFound)
    }

    @Test func getElement() throws {
        let h = try harness()
        #expect(try h.varGet("arr[0]") == 10)
        #expect(try h.varGet("arr[3]") == 13)
        // Past the end: nil.
        #expect(try h.varGet("arr[4]") == .some(.nil))
        #expect(try h.varGet("arr[1000]") == .some(.nil))
        #expect(try h.varGet("empty[0]") == .some(.nil))
    }

    @Test func getRangeWithinArray() throws {
        let h = try harness()
        #expect(try h.varGet("arr[1-2]") == [11, 12])
        #expect(try h.varGet("arr[0-3]") == [10, 11, 12, 13])
        #expect(try h.varGet("arr[2-2]") == [12])
        #expect(try h.varGet("arr[-1]") == [10, 11])
        #expect(try h.varGet("arr[1-]") == [11, 12, 13])
        #expect(try h.varGet("arr[0-]") == [10, 11, 12, 13])
    }

    @Test func getClosedRangePastTheEndIsPaddedWithNils() throws {
        let h = try harness()
        #expect(try h.varGet("arr[2-5]") == [12, 13, nil, nil])
        #expect(try h.varGet("arr[6-7]") == [nil, nil])
        #expect(try h.varGet("arr[-5]") == [10, 11, 12, 13, nil, nil])
        #expect(try h.varGet("empty[0-1]") == [nil, nil])
        #expect(try h.varGet("empty[-2]") == [nil, nil, nil])
    }

    @Test func getOpenRangeOnShortArrayGivesWhatExists() throws {
        let h = try harness()
        #expect(try h.varGet("short[0-]") == [1])
        #expect(try h.varGet("short[1-]") == [])
        #expect(try h.varGet("short[5-]") == [])
        #expect(try h.varGet("empty[0-]") == [])
    }

    @Test func getIndexOrRangeOnNonArrayIsInvalidData() throws {
        let h = try harness()
        for tag in ["scalar[0]", "scalar[0-1]", "scalar[1-]", "scalar[-1]", "text[0]", "nothing[0]"] {
            #expect(h.code("var.get", ["i": .string(tag)]) == .invalidData, "\(tag)")
        }
    }

    @Test func getBadParams() throws {
        let h = try harness()
        #expect(h.code("var.get", nil) == .invalidParams)
        #expect(h.code("var.get", .nil) == .invalidData)
        #expect(h.code("var.get", [:]) == .invalidData)
        #expect(h.code("var.get", ["i": 5]) == .invalidData)
        #expect(h.code("var.get", ["i": nil]) == .invalidData)
        #expect(h.code("var.get", ["arr"]) == .invalidData)
        #expect(h.codeRaw(Array("var.get".utf8), [0x81, 0xA1, 0x69]) == .invalidData)
        // Extra fields are fine.
        #expect(try h.call("var.get", ["i": "scalar", "x": [1, 2, ["y": 3]]]) == 42)
    }

    // MARK: var.set

    @Test func setWholeValues() throws {
        let h = try harness()
        #expect(try h.call("var.set", ["i": "new", "value": ["a": 1]]) == nil)
        #expect(try h.varGet("new") == ["a": 1])
        try h.varSet("scalar", nil)
        #expect(try h.varGet("scalar") == .some(.nil))
        try h.varSet("arr", "replaced")
        #expect(try h.varGet("arr") == "replaced")
    }

    @Test func setElementReplacesInsideALongerArray() throws {
        // The shipped controller ignored this write; it must land.
        let h = try harness()
        try h.varSet("arr[1]", 99)
        #expect(try h.varGet("arr") == [10, 99, 12, 13])
        try h.varSet("arr[0]", "x")
        #expect(try h.varGet("arr") == ["x", 99, 12, 13])
        try h.varSet("arr[3]", nil)
        #expect(try h.varGet("arr") == ["x", 99, 12, nil])
    }

    @Test func setElementPastTheEndGrowsWithNils() throws {
        let h = try harness()
        try h.varSet("arr[4]", 14)
        #expect(try h.varGet("arr") == [10, 11, 12, 13, 14])
        try h.varSet("short[3]", 4)
        #expect(try h.varGet("short") == [1, nil, nil, 4])
        try h.varSet("empty[0]", "first")
        #expect(try h.varGet("empty") == ["first"])
    }

    @Test func setElementOfMissingNameCreatesArray() throws {
        let h = try harness()
        try h.varSet("fresh[2]", 7)
        #expect(try h.varGet("fresh") == [nil, nil, 7])
        try h.varSet("zero[0]", 1)
        #expect(try h.varGet("zero") == [1])
    }

    @Test func setIndexOrRangeOnNonArrayIsInvalidData() throws {
        let h = try harness()
        #expect(h.code("var.set", ["i": "scalar[0]", "value": 1]) == .invalidData)
        #expect(h.code("var.set", ["i": "text[0-1]", "value": [1, 2]]) == .invalidData)
        #expect(h.code("var.set", ["i": "nothing[1-]", "value": [1]]) == .invalidData)
        #expect(try h.varGet("scalar") == 42)
    }

    @Test func setRangeTakesExactlyTheRangesLength() throws {
        let h = try harness()
        try h.varSet("arr[1-2]", ["b", "c"])
        #expect(try h.varGet("arr") == [10, "b", "c", 13])
        #expect(h.code("var.set", ["i": "arr[1-2]", "value": [1]]) == .invalidParams)
        #expect(h.code("var.set", ["i": "arr[1-2]", "value": [1, 2, 3]]) == .invalidParams)
        #expect(h.code("var.set", ["i": "arr[1-2]", "value": []]) == .invalidParams)
        #expect(h.code("var.set", ["i": "arr[1-2]", "value": 5]) == .invalidParams)
        #expect(h.code("var.set", ["i": "arr[-1]", "value": [1]]) == .invalidParams)
        // Nothing of the failed writes landed.
        #expect(try h.varGet("arr") == [10, "b", "c", 13])
    }

    @Test func setRangeGrowsAndCreates() throws {
        let h = try harness()
        try h.varSet("arr[3-5]", [3, 4, 5])
        #expect(try h.varGet("arr") == [10, 11, 12, 3, 4, 5])
        try h.varSet("short[3-4]", ["d", "e"])
        #expect(try h.varGet("short") == [1, nil, nil, "d", "e"])
        try h.varSet("block[2-3]", [true, false])
        #expect(try h.varGet("block") == [nil, nil, true, false])
        try h.varSet("head[-1]", ["a", "b"])
        #expect(try h.varGet("head") == ["a", "b"])
        try h.varSet("arr[-1]", [0, 1])
        #expect(try h.varGet("arr") == [0, 1, 12, 3, 4, 5])
    }

    @Test func setOpenRangeReplacesTheTail() throws {
        let h = try harness()
        try h.varSet("arr[2-]", ["x"])
        #expect(try h.varGet("arr") == [10, 11, "x"])
        #expect(try h.varGet("arr[2-]") == ["x"])
        try h.varSet("arr[1-]", [])
        #expect(try h.varGet("arr") == [10])
        try h.varSet("short[3-]", [7, 8])
        #expect(try h.varGet("short") == [1, nil, nil, 7, 8])
        try h.varSet("tail[1-]", [2])
        #expect(try h.varGet("tail") == [nil, 2])
        #expect(h.code("var.set", ["i": "arr[0-]", "value": "not an array"]) == .invalidParams)
    }

    @Test func setCapsArrayGrowth() throws {
        let h = try harness()
        #expect(h.code("var.set", ["i": "big[1000001]", "value": 1]) == .invalidData)
        #expect(h.code("var.set", ["i": "big[5-1000001]", "value": []]) == .invalidData)
        #expect(h.code("var.get", ["i": "big"]) == .notFound)
    }

    @Test func setBadParams() throws {
        let h = try harness()
        #expect(h.code("var.set", nil) == .invalidParams)
        #expect(h.code("var.set", .nil) == .invalidData)
        #expect(h.code("var.set", ["i": "x"]) == .invalidData)
        #expect(h.code("var.set", ["value": 1]) == .invalidData)
        #expect(h.code("var.set", ["i": 1, "value": 1]) == .invalidData)
        #expect(h.code("var.set", [1, 2]) == .invalidData)
        #expect(h.code("var.get", ["i": "x"]) == .notFound)
    }

    // MARK: var.set_bulk

    @Test func setBulkAllSucceedAnswersEmptyMap() throws {
        let h = try harness()
        let reply = try h.call("var.set_bulk", ["i": ["a", "arr[0]", "b[1-2]"], "values": [1, "z", [5, 6]]])
        #expect(reply == .map(MsgPackMap()))
        #expect(try h.varGet("a") == 1)
        #expect(try h.varGet("arr") == ["z", 11, 12, 13])
        #expect(try h.varGet("b") == [nil, 5, 6])
    }

    @Test func setBulkReportsFailedTags() throws {
        let h = try harness()
        let reply = try h.call("var.set_bulk", [
            "i": ["ok1", "scalar[0]", "arr[0-1]", "bad[x]", "ok2"],
            "values": [1, 2, [1], 3, 4],
        ])
        #expect(reply == ["failed": ["scalar[0]", "arr[0-1]", "bad[x]"]])
        #expect(try h.varGet("ok1") == 1)
        #expect(try h.varGet("ok2") == 4)
        #expect(try h.varGet("arr") == [10, 11, 12, 13])
    }

    @Test func setBulkBadParams() throws {
        let h = try harness()
        #expect(h.code("var.set_bulk", ["i": ["a", "b"], "values": [1]]) == .invalidParams)
        #expect(h.code("var.set_bulk", ["i": ["a"], "values": [1, 2]]) == .invalidParams)
        #expect(h.code("var.set_bulk", ["i": "a", "values": [1]]) == .invalidData)
        #expect(h.code("var.set_bulk", ["i": ["a"], "values": 1]) == .invalidData)
        #expect(h.code("var.set_bulk", ["i": ["a"]]) == .invalidData)
        #expect(h.code("var.set_bulk", ["values": [1]]) == .invalidData)
        #expect(h.code("var.set_bulk", ["i": [1], "values": [1]]) == .invalidData)
        #expect(h.code("var.set_bulk", nil) == .invalidParams)
        // None of the rejected calls wrote anything.
        #expect(h.code("var.get", ["i": "a"]) == .notFound)
        #expect(try h.call("var.set_bulk", ["i": [], "values": []]) == .map(MsgPackMap()))
    }

    // MARK: var.destroy

    @Test func destroy() throws {
        let h = try harness()
        #expect(try h.call("var.destroy", ["i": "arr"]) == nil)
        #expect(h.code("var.get", ["i": "arr"]) == .notFound)
        // A missing name is OK, as in the shipped controller.
        #expect(h.code("var.destroy", ["i": "arr"]) == nil)
        #expect(h.code("var.destroy", ["i": "missing"]) == nil)
        #expect(try h.call("var.list")?.arrayValue?.map { $0["id"] } == ["empty", "nothing", "scalar", "short", "text"])
    }

    @Test func destroyTakesANameOnly() throws {
        let h = try harness()
        #expect(h.code("var.destroy", ["i": "arr[0]"]) == .invalidParams)
        #expect(h.code("var.destroy", ["i": "arr[0-1]"]) == .invalidParams)
        #expect(h.code("var.destroy", ["i": "arr[1-]"]) == .invalidParams)
        #expect(h.code("var.destroy", ["i": "arr[-1]"]) == .invalidParams)
        #expect(h.code("var.destroy", ["i": 1]) == .invalidData)
        #expect(h.code("var.destroy", nil) == .invalidParams)
        #expect(try h.varGet("arr") == [10, 11, 12, 13])
    }

    // MARK: var.list

    @Test func listIdsInNameOrder() throws {
        let h = try harness()
        let expected: MsgPackValue = [
            ["id": "arr"], ["id": "empty"], ["id": "nothing"], ["id": "scalar"], ["id": "short"], ["id": "text"],
        ]
        #expect(try h.call("var.list") == expected)
        #expect(try h.call("var.list", [:]) == expected)
        #expect(try h.call("var.list", ["full": false]) == expected)
        #expect(try h.call("var.list", ["full": nil]) == expected)
    }

    @Test func listFull() throws {
        let h = try ControllerHarness(config: ["vars": ["b": 2, "a": [1], "C": nil]])
        let reply = try h.call("var.list", ["full": true])
        #expect(reply == [["id": "C", "value": nil], ["id": "a", "value": [1]], ["id": "b", "value": 2]])
    }

    @Test func listEmpty() throws {
        let h = try ControllerHarness()
        #expect(try h.call("var.list") == [])
    }

    @Test func listBadParams() throws {
        let h = try harness()
        #expect(h.code("var.list", .nil) == .invalidData)
        #expect(h.code("var.list", ["full": "yes"]) == .invalidData)
        #expect(h.code("var.list", ["full": 1]) == .invalidData)
        #expect(h.code("var.list", [true]) == .invalidData)
    }
}

/// Stored variables go out again inside other containers (registry writes,
/// bulk RAW frames), which libmsgpack peers read to 32 levels only: found by
/// the rpc fuzz target, where element writes nested a value deeper and
/// deeper until a persisted `key_set` could no longer be read.
@Suite struct VariableNestingTests {
    static func nested(_ depth: Int) -> MsgPackValue {
        var v: MsgPackValue = 1
        for _ in 0..<depth { v = [v] }
        return v
    }

    @Test func nestingIsCappedForWholeAndElementWrites() throws {
        let h = try ControllerHarness(config: [:])
        try h.varSet("deep", Self.nested(24))
        #expect(try h.varGet("deep")?.nestingDepth == 24)
        #expect(throws: EAPIError.invalidParams()) { try h.varSet("deeper", Self.nested(25)) }
        // An element write adds the array around the value.
        try h.varSet("arr[0]", Self.nested(23))
        #expect(throws: EAPIError.invalidParams()) { try h.varSet("arr[1]", Self.nested(24)) }
        // Feeding a variable back into an element of itself stops at the cap.
        var value = try #require(try h.varGet("arr"))
        var refused = false
        for _ in 0..<40 {
            do {
                try h.varSet("arr[0]", value)
            } catch {
                #expect(error == .invalidParams())
                refused = true
                break
            }
            value = try #require(try h.varGet("arr"))
        }
        #expect(refused)
        #expect(value.nestingDepth <= 24)
        #expect(Self.nested(3).nestingDepth == 3)
        #expect(MsgPackValue.map(["a": [["b": 1]]]).nestingDepth == 3)
    }
}
