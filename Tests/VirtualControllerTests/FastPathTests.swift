import EAPI
import Synchronization
import Testing
@testable import VirtualController

/// The hot paths that skip the decoder (`set` read from the payload's bytes,
/// `get` without a lock) must answer exactly what the general path answers.
@Suite struct FastPathTests {
    /// What the general path makes of a `set` payload: the OID's text, the
    /// status (nil: keep) and the value re-encoded (nil: keep); or the error.
    static func general(_ payload: [UInt8]) -> Result<(String, Int16?, [UInt8]?), EAPIError> {
        payload.withUnsafeBytes { raw in
            Result { () throws(EAPIError) in
                let map = try Params.map(raw)
                try Params.onlyKeys(map, ["i", "status", "value"])
                let oid = try Params.oid(map, "i")
                var status: Int16?
                if let s = map["status"], !s.isNil {
                    guard let v = s.int64Value, let v16 = Int16(exactly: v) else { throw .invalidData("status") }
                    status = v16
                }
                return (oid.description, status, map["value"].map { $0.encoded() })
            }
        }
    }

    /// `FastSet` accepts a payload only when it reads it as the general path does.
    static func agree(_ payload: [UInt8]) -> Bool {
        let fast = payload.withUnsafeBytes { raw in
            FastSet(raw).map { (Array($0.key), $0.status, $0.value.map { Array($0) }) }
        }
        guard let fast else { return true }  // left to the general path
        guard case .success(let (oid, status, value)) = general(payload) else { return false }
        return fast.0 == Array(oid.utf8) && fast.1 == status && fast.2 == value
    }

    static func map(_ entries: [(MsgPackValue, MsgPackValue)]) -> [UInt8] {
        MsgPackValue.map(MsgPackMap(entries.map { (key: $0.0, value: $0.1) })).encoded()
    }

    @Test func usualPayloadsTakeTheFastPath() {
        for payload in [
            Self.map([("i", "sensor:a/b"), ("status", 1), ("value", 42.5)]),
            Self.map([("i", "sensor:a/b"), ("value", ["x": [1, 2, nil], "y": "text"])]),
            Self.map([("value", nil), ("i", "unit:u1")]),
            Self.map([("i", "lvar:x"), ("status", -1)]),
            Self.map([("i", "lmacro:m"), ("status", nil)]),
        ] {
            #expect(payload.withUnsafeBytes { FastSet($0) } != nil, "\(payload)")
            #expect(Self.agree(payload), "\(payload)")
        }
    }

    @Test func unusualPayloadsAgreeOrFallBack() {
        let deep: MsgPackValue = (0..<12).reduce(MsgPackValue.int(1)) { inner, _ in .array([inner]) }
        let cases: [[UInt8]] = [
            Self.map([("i", "sensor:a"), ("i", "sensor:b"), ("value", 1), ("value", 2)]),  // first of each
            Self.map([("i", 5), ("value", 1)]),
            Self.map([("i", "sensor:é"), ("value", 1)]),
            Self.map([("i", "sensor:a"), ("value", "é")]),
            Self.map([("i", "sensor:a"), ("value", deep)]),
            Self.map([("i", "sensor:a"), ("other", deep)]),
            Self.map([("i", "sensor:a"), ("status", 40000)]),
            Self.map([("i", "sensor:a"), ("status", 1.5)]),
            Self.map([("i", "sensor:a"), ("status", .uint(UInt64.max))]),
            Self.map([("i", "sensor:a"), (1, 2)]),
            Self.map([("i", "bad"), ("value", 1)]),
            Self.map([("i", "sensor:"), ("value", 1)]),
            Self.map([("i", "sensor:a//b"), ("value", 1)]),
            Self.map([("i", "sensor:a/b/"), ("value", 1)]),
            Self.map([("i", "sensor:a#"), ("value", 1)]),
            Self.map([("i", "sensor:a\u{7F}"), ("value", 1)]),
            Self.map([("i", "nope:a"), ("value", 1)]),
            Self.map([("value", 1)]),
            MsgPackValue.array(["i", "sensor:a"]).encoded(),
            [0x81, 0xA1, 0x69, 0xD9, 0x03, 0x75, 0x3A, 0x61],  // i as a str8 that fits a fixstr ("u:a")
            [0x82, 0xA1, 0x69, 0xA8] + Array("sensor:a".utf8) + [0xA5] + Array("value".utf8) + [0xCC, 0x05],  // value 5 as uint8
            [0x82, 0xA1, 0x69, 0xA8] + Array("sensor:a".utf8) + [0xA6] + Array("status".utf8) + [0xD0, 0x02],  // status as int8
            [0x82, 0xA1, 0x69, 0xA8] + Array("sensor:a".utf8) + [0xA5] + Array("value".utf8) + [0xCA, 0x7F, 0xC0, 0, 1],
            [0xDE, 0x00, 0x01, 0xA1, 0x69, 0xA8] + Array("sensor:a".utf8),  // map16 of one entry
            [0x82, 0xA1, 0x69, 0xA8] + Array("sensor:a".utf8),  // short
            [0x81, 0xA1, 0x69, 0xA8] + Array("sensor:a".utf8) + [0x00],  // trailing byte
            [0x81, 0xA1, 0x69, 0xA8] + Array("sensor:a".utf8) + [0xC1],
            [0x81, 0xA1, 0x69, 0xA2, 0xFF, 0xFE],
            [],
        ]
        for payload in cases { #expect(Self.agree(payload), "\(payload)") }
    }

    static let values: [MsgPackValue] = [
        nil, true, 0, 127, 128, 65536, -33, -129, .int(Int64.min), .uint(UInt64.max), .float(1.5), 2.25, "", "abc",
        "é", .string(String(repeating: "x", count: 40)), .binary([1, 2]), .ext(5, [1, 2, 3]), [], [1, [2, nil]],
        ["k": "v"], .double(.nan),
    ]

    /// Random payloads around the usual shape, and random damage to them.
    @Test func randomPayloadsAgree() {
        var rng = FastPathRNG(seed: 0xFA57)
        let oids = ["sensor:a/b", "unit:u", "lvar:x/y/z", "sensor:", "sensor:a//b", "x:y", "sensor:a\u{1}"]
        let keys: [MsgPackValue] = ["i", "status", "value", "other", 7]
        var fast = 0
        for _ in 0..<12_000 {
            var entries: [(MsgPackValue, MsgPackValue)] = []
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                let key = keys.randomElement(using: &rng)!
                let value: MsgPackValue
                switch key {
                case "i": value = Bool.random(using: &rng) ? .string(oids.randomElement(using: &rng)!) : 3
                case "status": value = [nil, 1, -1, 200, 40_000, 1.5, "x"].randomElement(using: &rng)!
                default: value = Self.values.randomElement(using: &rng)!
                }
                entries.append((key, value))
            }
            var payload = Self.map(entries)
            if Int.random(in: 0..<4, using: &rng) == 0, !payload.isEmpty {
                payload[Int.random(in: 0..<payload.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if payload.withUnsafeBytes({ FastSet($0) }) != nil { fast += 1 }
            #expect(Self.agree(payload), "\(payload)")
        }
        // Most random payloads carry a key `set` refuses; enough do not.
        #expect(fast > 100)
    }

    /// `set` through the fast path leaves what the general path would: the
    /// reply of `get`, `list` and the RAW event.
    @Test func fastSetStateAndEvent() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:a/b"]])
        let payload = Self.map([("i", "sensor:a/b"), ("status", 2), ("value", ["x": 1.5])])
        _ = try h.callRaw(Array("set".utf8), payload)
        #expect(try h.get("sensor:a/b") == ["oid": "sensor:a/b", "status": 2, "value": ["x": 1.5]])
        #expect(try h.call("list") == [["oid": "sensor:a/b", "status": 2, "value": ["x": 1.5]]])
        _ = try h.callRaw(Array("set".utf8), Self.map([("i", "sensor:a/b"), ("status", -1)]))  // keeps the value
        _ = try h.callRaw(Array("set".utf8), Self.map([("i", "sensor:a/b"), ("value", nil)]))  // keeps the status
        let frames = h.host.state.withLock { $0.frames }
        #expect(frames.map(\.topic) == ["RAW/sensor/a/b", "RAW/sensor/a/b", "RAW/sensor/a/b"])
        #expect(frames.map(\.payload) == [["status": 2, "value": ["x": 1.5]], ["status": -1, "value": ["x": 1.5]],
                                          ["status": -1, "value": nil]])
        #expect(h.codeRaw(Array("set".utf8), Self.map([("i", "sensor:none"), ("value", 1)])) == .notFound)
    }

    @Test func fastSetCreatesWithAutoCreate() throws {
        let h = try ControllerHarness(config: ["auto_create": true])
        _ = try h.callRaw(Array("set".utf8), Self.map([("i", "unit:new/one"), ("value", 7)]))
        #expect(try h.get("unit:new/one") == ["oid": "unit:new/one", "status": 1, "value": 7])
        #expect(h.host.state.withLock { $0.frames.map(\.topic) } == ["RAW/unit/new/one"])
    }

    /// Values that outgrow an item's reply buffer, and shrink again.
    @Test func repliesGrowAndShrink() throws {
        let h = try ControllerHarness(config: ["items": ["sensor:g"]])
        for n in [1, 10, 100, 1000, 3, 5000, 0] {
            let value = MsgPackValue.string(String(repeating: "v", count: n))
            try h.call("set", ["i": "sensor:g", "value": value])
            #expect(try h.get("sensor:g") == ["oid": "sensor:g", "status": 1, "value": value])
        }
    }

    /// Readers without a lock against writers: every reply is one whole
    /// state (status and value written together), never a mix.
    @Test func concurrentGetsSeeWholeStates() throws {
        let items = (0..<8).map { "sensor:c/\($0)" }
        let h = try ControllerHarness(config: ["items": .array(items.map { .string($0) }), "auto_create": true])
        let stop = Atomic<Bool>(false)
        let torn = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        let writers = (0..<2).map { t in
            JoinableThread {
                var n = 0
                while !stop.load(ordering: .relaxed) {
                    n += 1
                    // status and value tied together; values of several sizes
                    let v = (n * 2 + t) % 1000
                    let value: MsgPackValue = v % 3 == 0 ? .string(String(repeating: "s", count: v)) : .int(Int64(v))
                    _ = try? h.call("set", ["i": .string(items[n % items.count]), "status": .int(Int64(v % 100)),
                                            "value": value])
                    if n % 500 == 0 { _ = try? h.call("set", ["i": .string("sensor:new/\(t)/\(n)"), "value": 1]) }
                }
            }!
        }
        @Sendable func whole(_ reply: MsgPackValue?) -> Bool {
            guard let reply, let status = reply["status"]?.int64Value else { return false }
            let v: Int64
            switch reply["value"] {
            case .int(let i)?: v = i
            case .string(let s)?: v = Int64(s.utf8.count)
            case .nil?: v = status == 1 ? 1 : -1  // the configured start state
            default: v = -1
            }
            return v % 100 == status
        }
        let readers = (0..<2).map { r in
            JoinableThread {
                for n in 0..<20_000 {
                    if r == 1, n % 200 == 0 {
                        // list reads the same cells, under the items lock
                        // but not the events lock the writers hold
                        let list = (try? h.call("list"))?.arrayValue ?? []
                        for entry in list where entry["oid"]?.stringValue?.hasPrefix("sensor:c/") == true {
                            if !whole(entry) { torn.add(1, ordering: .relaxed) }
                        }
                    }
                    if !whole(try? h.get(items[n % items.count])) { torn.add(1, ordering: .relaxed) }
                    reads.add(1, ordering: .relaxed)
                }
            }!
        }
        readers.forEach { $0.join() }
        stop.store(true, ordering: .relaxed)
        writers.forEach { $0.join() }
        #expect(torn.load(ordering: .relaxed) == 0)
        #expect(reads.load(ordering: .relaxed) == 40_000)
    }
}

/// A small seeded generator (splitmix64), for reproducible random cases.
struct FastPathRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bound frames, `var.set` and `action` read from the payload's bytes agree
/// with the general path.
@Suite struct FastPathFieldsTests {
    static func raw(_ entries: [(MsgPackValue, MsgPackValue)]) -> [UInt8] { FastPathTests.map(entries) }

    @Test func boundFramesOfEveryShapeSetWhatDecodingGives() throws {
        let payloads: [[UInt8]] = [
            Self.raw([("status", 1), ("value", 22.5)]),
            Self.raw([("value", ["a": [1, 2]]), ("status", 1), ("t", 1.5), ("ieid", [1, 2])]),
            Self.raw([("status", 1), ("value", "é")]),
            Self.raw([("status", 1), ("value", .float(2.5))]),
            Self.raw([("status", 1), ("value", .uint(UInt64.max))]),
            Self.raw([("status", 1), ("value", 1), ("value", 2)]),  // the first counts
            Self.raw([("status", 1), (5, 5), ("value", 3)]),  // a non-str key: the general path
            [0x82, 0xA6] + Array("status".utf8) + [0xD1, 0x00, 0x01, 0xA5] + Array("value".utf8) + [0xCD, 0x00, 0x07],
            [0x82, 0xA6] + Array("status".utf8) + [0x01, 0xA5] + Array("value".utf8) + [0xCA, 0x7F, 0xC0, 0x00, 0x01],
        ]
        for payload in payloads {
            let h = try ControllerHarness(config: ["bind": ["v": "sensor:env/t"]])
            h.frame(topic: "ST/LOC/sensor/env/t", payload: payload)
            let decoded = try MsgPackValue(decoding: payload)
            guard let expected = decoded["value"] else { continue }
            if case .float(let f) = expected, f.isNaN {
                #expect(try h.varGet("v").map { if case .float(let g) = $0 { g.isNaN } else { false } } == true)
            } else {
                #expect(try h.varGet("v") == expected, "\(payload)")
            }
        }
        // not a state: nothing set, a warning
        for payload in [Self.raw([("status", "x"), ("value", 1)]), Self.raw([("status", 40_000), ("value", 1)]),
                        Self.raw([("value", 1)]), [0xC1], MsgPackValue.array([1]).encoded()] {
            let h = try ControllerHarness(config: ["bind": ["v": "sensor:env/t"]])
            h.frame(topic: "ST/REM/sensor/env/t", payload: payload)
            #expect(h.code("var.get", ["i": "v"]) == .notFound)
            #expect(h.logs(.warn).count == 1)
        }
    }

    @Test func varSetOfEveryShapeSetsWhatDecodingGives() throws {
        let cases: [([UInt8], EAPIErrorCode?)] = [
            (Self.raw([("i", "a"), ("value", 1.5)]), nil),
            (Self.raw([("i", "a[3]"), ("value", [1, "x"])]), nil),
            (Self.raw([("value", 7), ("i", "a"), ("i", "b")]), nil),
            (Self.raw([("i", "a"), ("value", "é")]), nil),
            (Self.raw([("i", "é"), ("value", 1)]), nil),
            (Self.raw([("i", "a[x]"), ("value", 1)]), .invalidData),
            (Self.raw([("i", "a")]), .invalidData),
            (Self.raw([("i", 5), ("value", 1)]), .invalidData),
            ([0x82, 0xA1, 0x69, 0xA1, 0x61, 0xA5] + Array("value".utf8) + [0xD0, 0x05], nil),
        ]
        for (payload, code) in cases {
            let h = try ControllerHarness()
            #expect(h.codeRaw(Array("var.set".utf8), payload) == code, "\(payload)")
            guard code == nil else { continue }
            let decoded = try #require(try MsgPackValue(decoding: payload).mapValue)
            let tag = try #require(decoded["i"]?.stringValue)
            let value = try #require(decoded["value"])
            #expect(try h.varGet(tag) == value, "\(payload)")
        }
    }

    @Test func actionPayloadsReadFastAgree() throws {
        let uuid: MsgPackValue = .binary(Array(0..<16))
        let payloads: [[UInt8]] = [
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", ["value": 1])]),
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", ["value": 1]), ("timeout", 5_000_000),
                      ("priority", 7), ("config", ["x": 1])]),
            Self.raw([("i", "unit:a"), ("uuid", uuid), ("params", [:]), ("timeout", nil), ("priority", nil)]),
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", ["value": 1]), ("timeout", 0)]),
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", ["value": 1]), ("i", "unit:b")]),
            Self.raw([("uuid", uuid), ("i", "unit:a")]),
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", nil)]),
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", 5)]),
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", [:]), ("timeout", -1)]),
            Self.raw([("uuid", uuid), ("i", "unit:a"), ("params", [:]), ("priority", 300)]),
            Self.raw([("uuid", .binary([1, 2])), ("i", "unit:a"), ("params", [:])]),
            Self.raw([("uuid", "00010203-0405-0607-0809-0a0b0c0d0e0f"), ("i", "unit:a"), ("params", [:])]),
            Self.raw([("uuid", uuid), ("i", "unit:"), ("params", [:])]),
            Self.raw([("uuid", uuid), ("i", "unit:é"), ("params", [:])]),
        ]
        for payload in payloads {
            let fast = payload.withUnsafeBytes { JobRequest(fast: $0, isAction: true) }
            guard let fast else { continue }  // the general path's to answer
            let general = JobRequest(try ActionRequest(try MsgPackValue(decoding: payload)))
            #expect(fast.uuid == general.uuid && fast.oid == general.oid && fast.timeout == general.timeout
                        && fast.priority == general.priority && fast.params == general.params, "\(payload)")
        }
        #expect(payloads[0].withUnsafeBytes { JobRequest(fast: $0, isAction: true) } != nil)
    }
}
