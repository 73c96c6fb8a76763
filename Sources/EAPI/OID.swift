/// An item OID, `kind:group/id`. On the bus it becomes the path `kind/group/id`.
public struct OID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case unit, sensor, lvar, lmacro
    }

    public let kind: Kind
    /// `group/id` (the group may have several levels, or none).
    public let fullID: String
    public let description: String

    /// Parses an OID; nil when the kind is unknown or the path is malformed
    /// (empty, an empty segment, or a character that is special on the bus).
    public init?(_ text: String) {
        var text = text
        // ASCII text (the usual case) is checked on its bytes, with the same
        // rules: there a character is a byte.
        switch text.withUTF8({ OID.parseASCII(UnsafeRawBufferPointer($0)) }) {
        case .invalid: return nil
        case .valid(let kind, let colon):
            self.kind = kind
            self.fullID = String(text.utf8.dropFirst(colon + 1))!
            self.description = text
            return
        case .notASCII: break
        }
        guard let colon = text.firstIndex(of: ":"),
              let kind = Kind(rawValue: String(text[..<colon])) else { return nil }
        let path = text[text.index(after: colon)...]
        guard !path.isEmpty else { return nil }
        var previousSlash = true
        for scalar in path.unicodeScalars {
            switch scalar {
            case "/":
                if previousSlash { return nil }
                previousSlash = true
            case "#", "+", ":":
                return nil
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { return nil }
                previousSlash = false
            }
        }
        if previousSlash { return nil }
        self.kind = kind
        self.fullID = String(path)
        self.description = text
    }

    private enum ASCIIParse {
        case valid(Kind, colon: Int)
        case invalid
        case notASCII
    }

    private static func parseASCII(_ b: UnsafeRawBufferPointer) -> ASCIIParse {
        var colon = -1
        for i in 0..<b.count {
            let c = b[i]
            if c >= 0x80 { return .notASCII }
            if colon < 0, c == UInt8(ascii: ":") { colon = i }
        }
        guard colon >= 0 else { return .invalid }
        var word: UInt64 = 0
        guard colon <= 6 else { return .invalid }
        for i in 0..<colon { word = word << 8 | UInt64(b[i]) }
        let kind: Kind
        switch word {
        case 0x75_6E_69_74: kind = .unit
        case 0x73_65_6E_73_6F_72: kind = .sensor
        case 0x6C_76_61_72: kind = .lvar
        case 0x6C_6D_61_63_72_6F: kind = .lmacro
        default: return .invalid
        }
        guard colon + 1 < b.count else { return .invalid }
        var previousSlash = true
        for i in (colon + 1)..<b.count {
            switch b[i] {
            case UInt8(ascii: "/"):
                if previousSlash { return .invalid }
                previousSlash = true
            case UInt8(ascii: "#"), UInt8(ascii: "+"), UInt8(ascii: ":"), 0..<0x20, 0x7F:
                return .invalid
            default:
                previousSlash = false
            }
        }
        return previousSlash ? .invalid : .valid(kind, colon: colon)
    }

    /// `kind/group/id`, the form used in topics.
    public var path: String { "\(kind.rawValue)/\(fullID)" }

    public static func < (a: OID, b: OID) -> Bool { a.description < b.description }
}
