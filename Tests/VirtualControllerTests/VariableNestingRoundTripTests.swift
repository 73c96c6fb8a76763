import EAPI
import Testing
@testable import VirtualController

/// Regression (fuzz/fuzz-rpc, fuzz/regressions/rpc/deep-variable-unpersistable.bin):
/// the deepest variables the controller accepts must still make a registry
/// write that libmsgpack reads back, so a restart gets every variable.
@Suite struct VariableNestingRoundTripTests {
    static let key = "eva/svc_data/test.virtual/vars"

    static func nested(_ levels: Int) -> MsgPackValue {
        var v: MsgPackValue = 1
        for _ in 0..<levels { v = .array([v]) }
        return v
    }

    @Test func theDeepestVariablesReachTheRegistryAndComeBack() throws {
        let cap = VarStore.maxNestingDepth
        let h = try ControllerHarness(config: ["persist_interval": 0])
        try h.varSet("keep", 1)
        try h.varSet("whole", Self.nested(cap))
        try h.varSet("elem[0]", Self.nested(cap - 1))
        #expect(h.code("var.set", ["i": "w[0]", "value": Self.nested(cap)]) == .invalidParams)
        #expect(h.code("var.set", ["i": "w", "value": Self.nested(cap + 1)]) == .invalidParams)
        h.controller.terminate()
        #expect(h.logs(.error).isEmpty)
        let stored = try #require(h.host.registry[Self.key])
        // the key_set params as they cross the bus, read back with libmsgpack
        let params: MsgPackValue = ["key": .string(Self.key), "value": stored]
        let decoded = try MsgPackValue(decoding: params.encoded())
        #expect(decoded["value"]?["whole"] == Self.nested(cap))
        // and the key_get reply of the next start
        let reply = try MsgPackValue(decoding: stored.encoded())
        let again = try ControllerHarness(config: ["persist_interval": 0], registry: [Self.key: reply])
        #expect(try again.varGet("keep") == 1)
        #expect(try again.varGet("elem") == [Self.nested(cap - 1)])
        #expect(try again.varGet("whole") == Self.nested(cap))
    }
}
