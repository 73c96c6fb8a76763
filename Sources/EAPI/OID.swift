/// An item OID, `kind:group/id`. On the bus it becomes the path `kind/group/id`.
///
/// Parsed as the node's core parses OIDs: the kind is `unit`, `sensor`,
/// `lvar`, `lmacro` or an alias (`U`, `S`, `LV`, `K`), which `description`
/// and `path` always spell in full; the path after the colon holds letters
/// and digits (any script), `_ . ( ) [ ] - \` and `/`, at most
/// `maxPathBytes` bytes. Group and id are never empty (no leading, trailing
/// or doubled `/`).
public struct OID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case unit, sensor, lvar, lmacro

        /// The core's kind order: unit, sensor, lvar, lmacro.
        public var rank: Int {
            switch self {
            case .unit: 0
            case .sensor: 1
            case .lvar: 2
            case .lmacro: 3
            }
        }

        /// Bytes of the full kind name.
        @inlinable
        public var nameCount: Int {
            switch self {
            case .unit, .lvar: 4
            case .sensor, .lmacro: 6
            }
        }

        /// A kind or its alias, from the bytes before the colon.
        @inlinable
        static func parse(_ b: UnsafeRawBufferPointer, count: Int) -> Kind? {
            guard count <= 6 else { return nil }
            var word: UInt64 = 0
            for i in 0..<count { word = word << 8 | UInt64(b[i]) }
            switch word {
            case 0x75_6E_69_74, 0x55: return .unit  // "unit", "U"
            case 0x73_65_6E_73_6F_72, 0x53: return .sensor  // "sensor", "S"
            case 0x6C_76_61_72, 0x4C_56: return .lvar  // "lvar", "LV"
            case 0x6C_6D_61_63_72_6F, 0x4B: return .lmacro  // "lmacro", "K"
            default: return nil
            }
        }
    }

    /// The core refuses a longer path (the part after the colon).
    public static let maxPathBytes = 65_000

    public let kind: Kind
    /// `group/id` (the group may have several levels, or none).
    public let fullID: String
    /// `kind:group/id`, with the kind in full.
    public let description: String

    /// Parses an OID; nil when the kind is unknown or the path breaks the
    /// core's rules.
    public init?(_ text: String) {
        var text = text
        guard let (kind, colon) = text.withUTF8({ OID.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self.kind = kind
        self.fullID = String(text.utf8.dropFirst(colon + 1))!
        self.description = colon == kind.nameCount ? text : "\(kind.rawValue):\(fullID)"
    }

    /// The kind and the colon's offset of a valid OID's UTF-8 bytes.
    /// Inlinable: the controller's byte-level fast paths call it per call.
    @inlinable
    public static func parse(_ b: UnsafeRawBufferPointer) -> (Kind, colon: Int)? {
        var colon = 0
        while colon < b.count, b[colon] != UInt8(ascii: ":") { colon += 1 }
        guard colon < b.count, let kind = Kind.parse(b, count: colon) else { return nil }
        let path = UnsafeRawBufferPointer(rebasing: b[(colon + 1)...])
        return isValidPath(path) ? (kind, colon) : nil
    }

    /// The path after the colon: non-empty segments of allowed characters,
    /// at most `maxPathBytes` (65,000) bytes, valid UTF-8.
    @inlinable
    public static func isValidPath(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count > 0, b.count <= 65_000 else { return false }
        // ASCII bytes allowed in a path segment, as bit masks: `( ) - .`,
        // digits; A-Z, `[ \ ] _`, a-z.
        let allowedLow: UInt64 = 1 << 0x28 | 1 << 0x29 | 1 << 0x2D | 1 << 0x2E | 0x03FF << 0x30
        let allowedHigh: UInt64 = 0x07FF_FFFE | 1 << (0x5B - 64) | 1 << (0x5C - 64) | 1 << (0x5D - 64)
            | 1 << (0x5F - 64) | 0x07FF_FFFE << 32
        var previousSlash = true
        var i = 0
        while i < b.count {
            let c = b[i]
            if c < 0x80 {
                i += 1
                if c == UInt8(ascii: "/") {
                    if previousSlash { return false }
                    previousSlash = true
                    continue
                }
                let mask = c < 64 ? allowedLow : allowedHigh
                guard (mask >> UInt64(c & 63)) & 1 != 0 else { return false }
            } else {
                let length = alphanumericScalarLength(b, i)
                guard length > 0 else { return false }
                i += length
            }
            previousSlash = false
        }
        return !previousSlash
    }

    /// The length of the UTF-8 scalar at `i` when it is a letter or a
    /// digit; 0 when not (or malformed). Out of line: the ASCII loop stays
    /// lean.
    @usableFromInline @inline(never)
    static func alphanumericScalarLength(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int {
        guard let (scalar, length) = decodeScalar(b, i), isAlphanumeric(scalar) else { return 0 }
        return length
    }

    /// Rust's `char::is_alphanumeric`: Alphabetic, or a number (Nd, Nl, No).
    static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        let p = s.properties
        if p.isAlphabetic { return true }
        switch p.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// One UTF-8 scalar of 2 to 4 bytes at `i` (strict: no overlong form,
    /// no surrogate); nil when malformed.
    static func decodeScalar(_ b: UnsafeRawBufferPointer, _ i: Int) -> (Unicode.Scalar, Int)? {
        let lead = b[i]
        let length: Int
        var v: UInt32
        switch lead {
        case 0xC2...0xDF: (length, v) = (2, UInt32(lead & 0x1F))
        case 0xE0...0xEF: (length, v) = (3, UInt32(lead & 0x0F))
        case 0xF0...0xF4: (length, v) = (4, UInt32(lead & 0x07))
        default: return nil
        }
        guard b.count - i >= length else { return nil }
        for k in 1..<length {
            let c = b[i + k]
            guard c & 0xC0 == 0x80 else { return nil }
            v = v << 6 | UInt32(c & 0x3F)
        }
        let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard v >= minimum, let scalar = Unicode.Scalar(v) else { return nil }
        return (scalar, length)
    }

    /// `kind/group/id`, the form used in topics.
    public var path: String { "\(kind.rawValue)/\(fullID)" }

    /// The core's order: by kind (unit, sensor, lvar, lmacro), then by `group/id`.
    public static func < (a: OID, b: OID) -> Bool {
        if a.kind != b.kind { return a.kind.rank < b.kind.rank }
        return a.fullID.utf8.lexicographicallyPrecedes(b.fullID.utf8)
    }
}
