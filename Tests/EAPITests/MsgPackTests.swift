import EAPI
import Testing

@Suite struct MsgPackTests {
    @Test func roundTripsEveryKind() throws {
        let value: MsgPackValue = [
            "nil": nil, "t": true, "f": false, "neg": -5, "big": .uint(UInt64.max),
            "f32": .float(1.5), "f64": 2.25, "s": "ünïcode", "bin": .binary([0, 1, 255]),
            "arr": [1, "two", [3]], "ext": .ext(7, [9, 9]), "empty": .map(MsgPackMap()),
        ]
        let decoded = try MsgPackValue(decoding: value.encoded())
        #expect(decoded == value)
    }

    @Test func integersCompareEqualWhateverTheirWidth() throws {
        // 0xcd 0x01 0x00 is uint16 256; 0xd1 0x01 0x00 int16 256; 0xcf is uint64.
        #expect(try MsgPackValue(decoding: [0xcd, 0x01, 0x00]) == .int(256))
        #expect(try MsgPackValue(decoding: [0xd1, 0x01, 0x00]) == .int(256))
        #expect(try MsgPackValue(decoding: [0xcf, 0, 0, 0, 0, 0, 0, 1, 0]) == .int(256))
        #expect(try MsgPackValue(decoding: [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) == .uint(UInt64.max))
        #expect(MsgPackValue.unsigned(7) == .int(7))
    }

    @Test func aSwiftIntMakesAnIntValue() throws {
        let items = ["a", "b", "c"]
        let count: MsgPackValue = .int(items.count)   // an Int, not an Int64
        #expect(count == .int(Int64(3)))
        #expect(try MsgPackValue(decoding: MsgPackValue.int(Int.min).encoded()) == .int(Int64.min))
        guard case .int(let n) = count else { Issue.record("not .int"); return }
        #expect(n == 3)
    }

    @Test func floatFieldsAcceptIntegers() throws {
        #expect(MsgPackValue.int(3).doubleValue == 3)
        #expect(MsgPackValue.float(0.5).doubleValue == 0.5)
        #expect(MsgPackValue.string("3").doubleValue == nil)
    }

    @Test(arguments: [
        [UInt8](),                  // nothing
        [0x92, 0x01],               // array of 2 with one element
        [0xc1],                     // the never-used byte
        [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], // str32 claiming 4 GiB
        [0xdd, 0x7f, 0xff, 0xff, 0xff], // array32 claiming 2^31 elements
        [0x01, 0x02],               // trailing bytes
    ])
    func rejectsMalformedPayloads(bytes: [UInt8]) {
        #expect(throws: EAPIError.invalidParams()) { try MsgPackValue(decoding: bytes) }
    }

    @Test func rejectsDeepNestingWithoutCrashing() {
        let bomb = [UInt8](repeating: 0x91, count: 100_000) + [0xc0]
        #expect(throws: EAPIError.invalidParams()) { try MsgPackValue(decoding: bomb) }
    }

    @Test func mapLookupAndUpdateKeepOrder() {
        var m: MsgPackMap = ["a": 1, "b": 2]
        m["a"] = 3
        m["c"] = nil
        m["d"] = .nil
        #expect(m.entries.map { $0.key } == ["a", "b", "d"])
        #expect(m["a"] == 3)
        #expect(m["d"] == .some(.nil))
        #expect(m["zz"] == nil)
        m["b"] = nil
        #expect(m.count == 2)
    }

    @Test func writerIsReusable() throws {
        let w = MsgPackWriter()
        w.pack(["x": 1])
        let first = w.toArray()
        w.reset()
        #expect(w.count == 0)
        w.packString("hello")
        #expect(try MsgPackValue(decoding: w.toArray()) == "hello")
        #expect(try MsgPackValue(decoding: first) == ["x": 1])
    }
}
