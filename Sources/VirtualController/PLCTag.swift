import EAPI

/// A PLC tag: a variable name, optionally with one element or a range.
///
/// Grammar: `name`, `name[n]`, `name[a-b]` (inclusive), `name[a-]` (a to
/// the end), `name[-b]` (0 to b). Numbers are ASCII decimal digits, no sign,
/// no spaces, at most `PLCTag.maxIndex`. The name is non-empty and holds no
/// `[` or `]`. Anything else is malformed (INVALID_PARAMS).
struct PLCTag: Sendable, Hashable, CustomStringConvertible {
    enum Selector: Sendable, Hashable {
        case whole
        case index(Int)
        /// `upper` nil: to the end of the array.
        case range(lower: Int, upper: Int?)
    }

    /// The largest index a tag may name, so that one call cannot grow an
    /// array past a million elements and eat the node's memory.
    static let maxIndex = 1_000_000

    let name: String
    let selector: Selector
    let description: String

    init(name: String, selector: Selector = .whole) {
        self.name = name
        self.selector = selector
        switch selector {
        case .whole: description = name
        case .index(let n): description = "\(name)[\(n)]"
        case .range(let a, let b): description = "\(name)[\(a)-\(b.map { "\($0)" } ?? "")]"
        }
    }

    init(parsing text: String) throws(EAPIError) {
        guard let tag = PLCTag.parse(text) else { throw .invalidParams("malformed tag: \(text)") }
        self = tag
    }

    private init(name: String, selector: Selector, text: String) {
        self.name = name
        self.selector = selector
        self.description = text
    }

    static func parse(_ text: String) -> PLCTag? {
        let utf8 = text.utf8
        guard !utf8.isEmpty else { return nil }
        guard let open = utf8.firstIndex(of: UInt8(ascii: "[")) else {
            // A plain name: no brackets at all.
            return utf8.contains(UInt8(ascii: "]")) ? nil : PLCTag(name: text, selector: .whole, text: text)
        }
        guard open != utf8.startIndex, utf8.last == UInt8(ascii: "]") else { return nil }
        let nameBytes = utf8[..<open]
        if nameBytes.contains(UInt8(ascii: "]")) { return nil }
        let close = utf8.index(before: utf8.endIndex)
        let inner = utf8[utf8.index(after: open)..<close]
        guard !inner.isEmpty else { return nil }
        let selector: Selector
        if let dash = inner.firstIndex(of: UInt8(ascii: "-")) {
            let lowerBytes = inner[..<dash]
            let upperBytes = inner[inner.index(after: dash)...]
            let lower: Int
            if lowerBytes.isEmpty {
                lower = 0
                // `[-]` has neither end.
                if upperBytes.isEmpty { return nil }
            } else {
                guard let l = number(lowerBytes) else { return nil }
                lower = l
            }
            if upperBytes.isEmpty {
                selector = .range(lower: lower, upper: nil)
            } else {
                guard let upper = number(upperBytes), lower <= upper else { return nil }
                selector = .range(lower: lower, upper: upper)
            }
        } else {
            guard let n = number(inner) else { return nil }
            selector = .index(n)
        }
        guard let name = String(nameBytes) else { return nil }
        return PLCTag(name: name, selector: selector, text: text)
    }

    /// Decimal digits only, at most `maxIndex` (so no overflow either).
    private static func number(_ bytes: Substring.UTF8View) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var v = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int(b - UInt8(ascii: "0"))
            if v > maxIndex { return nil }
        }
        return v
    }

    /// A variable name: a tag with no index or range.
    static func isName(_ text: String) -> Bool {
        guard let tag = parse(text) else { return false }
        return tag.selector == .whole
    }
}
