import EAPI
import Testing

/// `MsgPackScanner.isCanonical`: true exactly for bytes that decoding and
/// encoding again gives back unchanged (within its limits: ASCII text, no
/// NaN, shallow nesting), so a fast path may keep such bytes as they came.
@Suite struct CanonicalTests {
    static let canonical: [MsgPackValue] = [
        nil, true, false, 0, 127, 128, 255, 256, 65535, 65536, .int(Int64(UInt32.max)), .int(Int64(UInt32.max) + 1),
        .int(Int64.max), .uint(UInt64.max), -1, -32, -33, -128, -129, -32768, -32769, .int(Int64(Int32.min)),
        .int(Int64(Int32.min) - 1), .int(Int64.min), .float(1.5), .float(-0.0), 2.25, .double(.infinity), "",
        "abc", .string(String(repeating: "x", count: 31)), .string(String(repeating: "x", count: 32)),
        .string(String(repeating: "y", count: 300)), .string(String(repeating: "z", count: 70_000)),
        .binary([]), .binary([1, 2]), .binary(Array(repeating: 7, count: 300)),
        .ext(5, [1]), .ext(5, [1, 2]), .ext(5, [1, 2, 3, 4]), .ext(5, Array(repeating: 1, count: 8)),
        .ext(5, Array(repeating: 1, count: 16)), .ext(5, [1, 2, 3]), .ext(-3, Array(repeating: 1, count: 300)),
        [], [1, [2, [3, ["a": nil]]]], .array(Array(repeating: 1, count: 15)), .array(Array(repeating: 1, count: 16)),
        .array(Array(repeating: 1, count: 70_000)), [:],
        .map(MsgPackMap((0..<20).map { (key: .int(Int64($0)), value: .string("\($0)")) })),
        .map(MsgPackMap([(key: "a", value: 1), (key: "a", value: 2)])),  // duplicates are kept
    ]

    @Test(arguments: canonical)
    func whatTheEncoderWritesIsCanonical(value: MsgPackValue) throws {
        let bytes = value.encoded()
        #expect(bytes.withUnsafeBytes { MsgPackScanner.isCanonical($0) })
        // ... and a decode/encode round trip keeps it
        #expect(try MsgPackValue(decoding: bytes).encoded() == bytes)
        for cut in [0, bytes.count / 2, bytes.count - 1] where cut < bytes.count {
            #expect(!Array(bytes.prefix(cut)).withUnsafeBytes { MsgPackScanner.isCanonical($0) })
        }
        #expect(!(bytes + [0]).withUnsafeBytes { MsgPackScanner.isCanonical($0) })
    }

    @Test func longerFormsThanNeededAreNot() {
        for bytes: [UInt8] in [
            [0xCC, 0x05], [0xCD, 0x00, 0xFF], [0xCE, 0x00, 0x00, 0xFF, 0xFF], [0xCF, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF],
            [0xD0, 0x05], [0xD0, 0xE0], [0xD1, 0xFF, 0x80], [0xD2, 0xFF, 0xFF, 0x80, 0x00], [0xD3, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xD9, 0x01, 0x61], [0xDA, 0x00, 0x01, 0x61], [0xDB, 0x00, 0x00, 0x00, 0x01, 0x61],
            [0xC5, 0x00, 0x01, 0x00], [0xC7, 0x01, 0x05, 0x00], [0xC7, 0x02, 0x05, 0x00, 0x00],
            [0xDC, 0x00, 0x01, 0x01], [0xDE, 0x00, 0x01, 0x01, 0x01],
            // NaN floats, non-ASCII text (valid or not), never-used bytes
            [0xCA, 0x7F, 0xC0, 0x00, 0x00], [0xCB, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0], [0xA2, 0xC3, 0xA9], [0xA1, 0xFF],
            [0xC1], [0x91, 0xC1],
        ] {
            #expect(!bytes.withUnsafeBytes { MsgPackScanner.isCanonical($0) }, "\(bytes)")
        }
    }

    @Test func nestingIsBounded() {
        func nested(_ depth: Int) -> [UInt8] { Array(repeating: 0x91, count: depth) + [0x01] }
        #expect(nested(8).withUnsafeBytes { MsgPackScanner.isCanonical($0) })
        #expect(!nested(9).withUnsafeBytes { MsgPackScanner.isCanonical($0) })
        #expect(!nested(10_000).withUnsafeBytes { MsgPackScanner.isCanonical($0) })
        #expect(nested(3).withUnsafeBytes { MsgPackScanner.isCanonical($0, maxDepth: 3) })
        #expect(!nested(4).withUnsafeBytes { MsgPackScanner.isCanonical($0, maxDepth: 3) })
        // counts that the bytes cannot hold
        #expect(![UInt8]([0xDD, 0xFF, 0xFF, 0xFF, 0xFF]).withUnsafeBytes { MsgPackScanner.isCanonical($0) })
        #expect(![UInt8]([0xDF, 0x00, 0x01, 0x00, 0x00]).withUnsafeBytes { MsgPackScanner.isCanonical($0) })
    }

    /// The property itself, on random bytes: canonical bytes decode and
    /// encode back to the same bytes.
    @Test func canonicalBytesSurviveARoundTrip() throws {
        var rng = SplitMix(seed: 0x5EED)
        var accepted = 0
        for _ in 0..<100_000 {
            let bytes = rng.messagePackish()
            guard bytes.withUnsafeBytes({ MsgPackScanner.isCanonical($0) }) else { continue }
            accepted += 1
            let value = try MsgPackValue(decoding: bytes)
            #expect(value.encoded() == bytes, "\(bytes)")
        }
        #expect(accepted > 500)
    }
}

/// A small seeded generator (splitmix64) for reproducible random bytes.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Short byte strings made mostly of MessagePack heads, so that a fair
    /// share of them parse.
    mutating func messagePackish() -> [UInt8] {
        let heads: [UInt8] = [0x00, 0x05, 0x7F, 0xE0, 0xFF, 0xC0, 0xC2, 0xC3, 0x80, 0x81, 0x82, 0x90, 0x91, 0x92, 0xA0,
                              0xA1, 0xA2, 0xCC, 0xCD, 0xCE, 0xD0, 0xD1, 0xD9, 0xC4, 0xD4, 0xD5, 0xC7, 0xCA, 0xCB, 0xDC, 0xDE]
        var out: [UInt8] = []
        let n = Int.random(in: 1...12, using: &self)
        for _ in 0..<n {
            out.append(Bool.random(using: &self) ? heads.randomElement(using: &self)! : UInt8.random(in: 0...0x7F, using: &self))
        }
        return out
    }
}
