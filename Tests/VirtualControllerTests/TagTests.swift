import EAPI
import Testing
@testable import VirtualController

@Suite struct TagTests {
    @Test(arguments: [
        ("x", "x", PLCTag.Selector.whole),
        ("temp.sensor_1", "temp.sensor_1", .whole),
        ("a[0]", "a", .index(0)),
        ("a[17]", "a", .index(17)),
        ("a[007]", "a", .index(7)),
        ("a[1-4]", "a", .range(lower: 1, upper: 4)),
        ("a[3-3]", "a", .range(lower: 3, upper: 3)),
        ("a[2-]", "a", .range(lower: 2, upper: nil)),
        ("a[-5]", "a", .range(lower: 0, upper: 5)),
        ("a[1000000]", "a", .index(1_000_000)),
        ("db 1[2]", "db 1", .index(2)),
    ])
    func parsesValidTags(text: String, name: String, selector: PLCTag.Selector) throws {
        let tag = try #require(PLCTag.parse(text))
        #expect(tag.name == name)
        #expect(tag.selector == selector)
        // The description is canonical and parses back to the same tag.
        #expect(PLCTag.parse(tag.description) == tag)
        let canonical = ["a[007]": "a[7]", "a[-5]": "a[0-5]"]
        #expect(tag.description == canonical[text, default: text])
    }

    @Test func parsesFromPayloadBytes() throws {
        let bytes = Array("regs[2-5]".utf8)
        let tag = try bytes.withUnsafeBytes { raw in Result { () throws(EAPIError) in try PLCTag(parsing: raw) } }.get()
        #expect(tag == PLCTag(name: "regs", selector: .range(lower: 2, upper: 5)))
        let bad = Array("regs[x]".utf8).withUnsafeBytes { raw in Result { () throws(EAPIError) in try PLCTag(parsing: raw) } }
        #expect(throws: EAPIError(.invalidData)) { try bad.get() }
    }

    static let malformed = [
        "", "[1]", "a]", "a[]", "a[-]", "a[x]", "a[1-x]", "a[3-1]", "a[-1-2]", "a[[1]]",
        "a[1]]", "a[1000001]", "a[99999999999999999999999]", "a[+1]", "a[ 1]", "a[1 ]", "a[1.5]",
        "a[--1]", "a[1--]", "a[0x1]",
    ]

    @Test(arguments: malformed)
    func rejectsMalformedTags(text: String) {
        #expect(PLCTag.parse(text) == nil)
    }

    /// As the shipped tag map reads them: a tag that does not end with `]`
    /// is a plain name, brackets and all.
    @Test(arguments: ["bad[x", "a[", "a[1]b", "a]b", "[", "x[1", "]x"])
    func tagNotEndingWithBracketIsAPlainName(text: String) throws {
        #expect(PLCTag.parse(text) == PLCTag(name: text, selector: .whole))
        let h = try ControllerHarness()
        try h.call("var.set", ["i": .string(text), "value": 7])
        #expect(try h.varGet(text) == 7)
        #expect(try h.call("var.list") == [["id": .string(text)]])
        try h.call("var.destroy", ["i": .string(text)])
        #expect(h.code("var.get", ["i": .string(text)]) == .notFound)
    }

    @Test(arguments: malformed)
    func malformedTagsAreInvalidDataForEveryVariableMethod(text: String) throws {
        let h = try ControllerHarness(config: ["vars": ["a": [1, 2, 3]]])
        #expect(h.code("var.get", ["i": .string(text)]) == .invalidData)
        #expect(h.code("var.set", ["i": .string(text), "value": 1]) == .invalidData)
        #expect(h.code("var.destroy", ["i": .string(text)]) == .invalidData)
        // In a bulk set a bad tag fails alone.
        let reply = try h.call("var.set_bulk", ["i": [.string(text), "ok"], "values": [1, 2]])
        #expect(reply == ["failed": [.string(text)]])
        #expect(try h.varGet("ok") == 2)
        #expect(try h.varGet("a") == [1, 2, 3])
    }

    @Test func isNameAcceptsOnlyPlainNames() {
        #expect(PLCTag.isName("abc"))
        #expect(!PLCTag.isName("abc[1]"))
        #expect(!PLCTag.isName("abc[1-]"))
        #expect(!PLCTag.isName(""))
    }
}
