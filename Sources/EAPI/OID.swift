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

    /// `kind/group/id`, the form used in topics.
    public var path: String { "\(kind.rawValue)/\(fullID)" }

    public static func < (a: OID, b: OID) -> Bool { a.description < b.description }
}
