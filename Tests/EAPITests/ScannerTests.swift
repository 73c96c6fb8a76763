import EAPI
import Testing

@Suite struct ScannerTests {
    static let wellFormed: [MsgPackValue] = [
        nil, true, 0, -1, 127, -32, 255, 65535, .int(Int64.min), .uint(UInt64.max), .float(1.5), 2.25, "",
        .string(String(repeating: "x", count: 40)), .string(String(repeating: "y", count: 300)),
        .string(String(repeating: "z", count: 70_000)), .binary([1, 2]), .binary(Array(repeating: 7, count: 300)),
        .ext(5, [1]), .ext(5, [1, 2]), .ext(5, [1, 2, 3, 4]), .ext(5, Array(repeating: 1, count: 8)),
        .ext(5, Array(repeating: 1, count: 16)), .ext(5, [1, 2, 3]), .ext(-3, Array(repeating: 1, count: 300)),
        [], [1, [2, [3, ["a": nil]]]], .array(Array(repeating: 1, count: 70_000)),
        .map(MsgPackMap((0..<20).map { (key: .int(Int64($0)), value: .string("\($0)")) })),
    ]

    @Test(arguments: wellFormed)
    func acceptsWhatTheEncoderWrites(value: MsgPackValue) {
        let bytes = value.encoded()
        #expect(bytes.withUnsafeBytes { MsgPackScanner.isWellFormed($0) })
        // Any strict prefix is short, and any extra byte is too much.
        for cut in [0, bytes.count / 2, bytes.count - 1] where cut < bytes.count {
            #expect(!Array(bytes.prefix(cut)).withUnsafeBytes { MsgPackScanner.isWellFormed($0) })
        }
        #expect(!(bytes + [0]).withUnsafeBytes { MsgPackScanner.isWellFormed($0) })
    }

    @Test func refusesCountsPastTheEndWithoutAllocating() {
        for bytes: [UInt8] in [
            [0xDF, 0xFF, 0xFF, 0xFF, 0xFF], [0xDD, 0xFF, 0xFF, 0xFF, 0xFF], [0xDB, 0xFF, 0xFF, 0xFF, 0xFF],
            [0xC6, 0xFF, 0xFF, 0xFF, 0xFF], [0xC9, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0xC1],
        ] {
            #expect(!bytes.withUnsafeBytes { MsgPackScanner.isWellFormed($0) })
        }
        // Deep but complete nesting is well-formed (libmsgpack bounds depth).
        let deep: [UInt8] = Array(repeating: 0x91, count: 10_000) + [0x01]
        #expect(deep.withUnsafeBytes { MsgPackScanner.isWellFormed($0) })
    }

    @Test func findsTheStringField() throws {
        func field(_ v: MsgPackValue) -> String {
            v.encoded().withUnsafeBytes { raw in
                switch MsgPackScanner.stringField(raw, key: "i") {
                case .string(let b): "s:" + String(decoding: b, as: UTF8.self)
                case .malformed: "malformed"
                case .notMap: "notMap"
                case .missing: "missing"
                case .notString: "notString"
                }
            }
        }
        #expect(field(["i": "abc"]) == "s:abc")
        #expect(field(["x": ["i": "nested"], "i": .string(String(repeating: "q", count: 40))])
            == "s:" + String(repeating: "q", count: 40))
        #expect(field(["i": 5]) == "notString")
        #expect(field(["j": "x"]) == "missing")
        #expect(field([:]) == "missing")
        #expect(field(["i"]) == "notMap")
        #expect(field(.map(MsgPackMap([(key: "i", value: 1), (key: "i", value: "last")]))) == "s:last")
        #expect(field(.map(MsgPackMap([(key: .binary([0x69]), value: "bin key")]))) == "missing")
    }
}
