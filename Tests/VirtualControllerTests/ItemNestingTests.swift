import EAPI
import Testing
@testable import VirtualController

/// Regression: `set {i, value: <31 levels>}` was accepted (the call's params
/// nest 32), and every `list` reply after it nested 33 levels, which a
/// libmsgpack peer (the harness, the fuzz launcher) cannot read. Item values
/// share the variables' cap (`VarStore.maxNestingDepth`).
@Suite struct ItemNestingTests {
    static func nested(_ levels: Int) -> MsgPackValue {
        var v: MsgPackValue = 1
        for _ in 0..<levels { v = .array([v]) }
        return v
    }

    @Test func itemValuesNestWithinTheCapAndListStaysReadable() throws {
        let cap = VarStore.maxNestingDepth
        let h = try ControllerHarness(config: ["auto_create": true])
        try h.call("set", ["i": "sensor:n/ok", "value": Self.nested(cap)])
        #expect(h.code("set", ["i": "sensor:n/deep", "value": Self.nested(cap + 1)]) == .invalidData)
        #expect(h.code("set", ["i": "sensor:n/deep", "value": Self.nested(31)]) == .invalidData)
        #expect(h.code("get", ["i": "sensor:n/deep"]) == .notFound)
        // callRaw decodes the reply with libmsgpack
        let list = try #require(try h.call("list")?.arrayValue)
        #expect(list.first?["value"] == Self.nested(cap))
    }
}
