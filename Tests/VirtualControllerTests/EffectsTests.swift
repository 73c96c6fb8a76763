import EAPI
import Testing
@testable import VirtualController

/// The controller's side of unit actions and lmacros (`ActionEffects`).
@Suite struct EffectsTests {
    func make(_ config: MsgPackValue) throws -> (RecordingHost, ControllerCore, ControllerEffects) {
        let host = RecordingHost()
        let core = ControllerCore(config: try ControllerConfig(config), serviceID: "t", host: host)
        return (host, core, ControllerEffects(core: core))
    }

    @Test func ensureUnitExistingOrNotFound() throws {
        let (_, core, effects) = try make(["items": ["unit:u/1"]])
        try effects.ensureUnit(OID("unit:u/1")!)
        #expect(throws: EAPIError(.notFound)) { try effects.ensureUnit(OID("unit:u/2")!) }
        #expect(!core.itemExists(OID("unit:u/2")!))
    }

    @Test func ensureUnitAutoCreates() throws {
        let (host, core, effects) = try make(["auto_create": true])
        try effects.ensureUnit(OID("unit:u/9")!)
        #expect(core.itemExists(OID("unit:u/9")!))
        // Created quietly: its completed action publishes its state.
        #expect(host.frames.isEmpty)
    }

    @Test func completeUnitActionSetsStatePublishesAndMapsTheVariable() throws {
        let (host, core, effects) = try make([
            "items": ["unit:u/1"], "action_map": ["unit:u/1": ["var": "u1"], "unit:u/2": ["var": "regs[1]"]],
        ])
        effects.completeUnitAction(OID("unit:u/1")!, status: 1, value: 42)
        #expect(host.frames.map(\.topic) == ["RAW/unit/u/1"])
        #expect(host.frames.first?.payload == ["status": 1, "value": 42])
        #expect(core.vars.withLock { $0.values["u1"] } == 42)
        // Another status, a tag with an index, a unit created on the way.
        effects.completeUnitAction(OID("unit:u/2")!, status: 3, value: "on")
        #expect(host.frames.last?.payload == ["status": 3, "value": "on"])
        #expect(core.vars.withLock { $0.values["regs"] } == [nil, "on"])
    }

    @Test func completeUnitActionWithAnUnwritableVariableLogs() throws {
        let (host, core, effects) = try make([
            "items": ["unit:u/1"], "action_map": ["unit:u/1": ["var": "s[0]"]], "vars": ["s": 5],
        ])
        effects.completeUnitAction(OID("unit:u/1")!, status: 1, value: 1)
        #expect(core.vars.withLock { $0.values["s"] } == 5)
        #expect(host.logs.contains { $0.0 == .error && $0.1.contains("action_map") })
    }

    @Test func setItemAndSetVariableAreTheMethods() throws {
        let (host, core, effects) = try make(["items": ["sensor:s/1"]])
        try effects.setItem(OID("sensor:s/1")!, status: nil, value: .some(.nil))
        try effects.setItem(OID("sensor:s/1")!, status: 4, value: nil)
        #expect(host.frames.map(\.payload) == [["status": 1, "value": nil], ["status": 4, "value": nil]])
        #expect(throws: EAPIError(.notFound)) { try effects.setItem(OID("sensor:s/2")!, status: 1, value: nil) }
        try effects.setVariable(tag: "a[2]", value: 1)
        #expect(core.vars.withLock { $0.values["a"] } == [nil, nil, 1])
        #expect(throws: EAPIError(.invalidData)) { try effects.setVariable(tag: "a[x]", value: 1) }
        #expect(throws: EAPIError(.invalidData)) {
            try effects.setVariable(tag: "x", value: 1)
            try effects.setVariable(tag: "x[0]", value: 1)
        }
    }
}
