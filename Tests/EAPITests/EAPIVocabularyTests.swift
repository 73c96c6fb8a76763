import EAPI
import Testing

@Suite struct OIDTests {
    @Test(arguments: ["sensor:tests/temp", "unit:a", "lvar:x/y/z", "lmacro:g/m"])
    func parsesValidOIDs(text: String) throws {
        let oid = try #require(OID(text))
        #expect(oid.description == text)
        #expect(oid.path == text.replacingColonWithSlash())
    }

    @Test(arguments: ["", "sensor", "sensor:", "sensor:/x", "sensor:x/", "sensor:a//b", "bogus:x",
                      "sensor:a#", "sensor:+/x", "sensor:a\u{1}b", "sensor:a:b", ":x"])
    func rejectsMalformedOIDs(text: String) {
        #expect(OID(text) == nil)
    }

    @Test func ordersAsTheCore() {
        let oids = ["lmacro:a", "unit:b", "lvar:a", "sensor:z", "sensor:a", "unit:a/b", "unit:a"].compactMap(OID.init)
        #expect(oids.sorted().map(\.description)
            == ["unit:a", "unit:a/b", "unit:b", "sensor:a", "sensor:z", "lvar:a", "lmacro:a"])
    }
}

extension String {
    func replacingColonWithSlash() -> String {
        guard let i = firstIndex(of: ":") else { return self }
        return self[..<i] + "/" + self[index(after: i)...]
    }
}

@Suite struct InitialPayloadTests {
    static let minimal: MsgPackValue = ["version": 4, "id": "eva.controller.x"]

    @Test func fillsDefaultsAndKeepsConfig() throws {
        let p = try InitialPayload(Self.minimal)
        #expect(p.id == "eva.controller.x")
        #expect(p.config == .map(MsgPackMap()))
        #expect(p.core.logLevel == .info)
        #expect(p.timeout.shutdown > 0)
        #expect(p.prepareCommand == nil)
    }

    @Test func acceptsAnyNumberWidthAndIgnoresUnknownKeys() throws {
        let value: MsgPackValue = [
            "version": 4, "id": "svc", "system_name": "node1", "command": "svc/eva-ffi x.so",
            "prepare_command": nil, "data_path": "/var/svc",
            "timeout": ["startup": .float(5), "shutdown": 3, "default": .double(1.5)],
            "core": ["build": .unsigned(2026112201), "version": "4.1.0", "eapi_version": 1, "path": "/opt/eva4",
                     "log_level": 30, "active": true],
            "bus": ["type": "native", "path": "var/bus.ipc", "timeout": 2, "buf_size": 8192, "queue_size": 8192],
            "config": ["items": ["sensor:a"]], "workers": 4, "user": "nobody",
            "react_to_fail": true, "fail_mode": false, "fips": false, "call_tracing": false,
            "realtime": ["priority": 5], "restart_delay": 1,
        ]
        let p = try InitialPayload(value)
        #expect(p.timeout.shutdown == 3)
        #expect(p.timeout.default == 1.5)
        #expect(p.core.logLevel == .warn)
        #expect(p.workers == 4)
        #expect(p.reactToFail)
        #expect(p.config["items"] == ["sensor:a"])
        #expect(p.bus.timeout == 2)
    }

    @Test func rejectsWrongTypesNamingTheField() {
        #expect(throws: EAPIError.invalidParams()) { try InitialPayload(["id": 5]) }
        #expect(throws: EAPIError.invalidParams()) { try InitialPayload(["id": "x", "workers": "two"]) }
        #expect(throws: EAPIError.invalidParams()) { try InitialPayload(["id": "x", "timeout": 5]) }
        #expect(throws: EAPIError.invalidParams()) { try InitialPayload(.array([])) }
        do {
            _ = try InitialPayload(["id": "x", "core": ["log_level": "loud"]])
            Issue.record("accepted a string log level")
        } catch {
            #expect(error.message.contains("initial.core.log_level"))
        }
    }

    @Test func logLevelClampsToTheNamedLevelBelow() {
        #expect(LogLevel(clamping: 0) == .trace)
        #expect(LogLevel(clamping: 25) == .info)
        #expect(LogLevel(clamping: 100) == .off)
        #expect(LogLevel(clamping: -3) == .trace)
    }
}

@Suite struct ServiceInfoTests {
    @Test func encodesTheEAPIMetadataShape() {
        let info = ServiceInfo(author: "a", version: "1", description: "d", methods: [
            .init("get", "read", params: [("i", true)]), .init("list", "all"),
        ])
        let v = info.value
        #expect(v["author"] == "a")
        #expect(v["methods"]?["get"]?["params"]?["i"]?["required"] == true)
        #expect(v["methods"]?["list"]?["params"] == .map(MsgPackMap()))
        #expect(v["methods"]?["list"]?["description"] == "all")
    }
}
