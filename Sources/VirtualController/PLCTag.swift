import EAPI

/// A PLC tag: a variable name, optionally with one element or a range.
///
/// Grammar: `name`, `name[n]`, `name[a-b]` (inclusive), `name[a-]` (a to
/// the end), `name[-b]` (0 to b). Numbers are ASCII decimal digits, no sign,
/// no spaces, at most `PLCTag.maxIndex`. As in the shipped controller's tag
/// map, a tag that does not end with `]` is a plain name, whatever it holds
/// (`bad[x` names a variable `bad[x`). A tag ending with `]` is
/// `name[selector]` with a non-empty name holding no `[` or `]`; anything
/// else ending with `]` is malformed (INVALID_DATA). The empty tag is
/// malformed too.
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

    init(name: String, selector: Selector = .whole) {
        self.name = name
        self.selector = selector
    }

    /// The canonical text (numbers without leading zeros).
    var description: String {
        switch selector {
        case .whole: name
        case .index(let n): "\(name)[\(n)]"
        case .range(let a, let b): "\(name)[\(a)-\(b.map { "\($0)" } ?? "")]"
        }
    }

    init(parsing text: String) throws(EAPIError) {
        guard let tag = PLCTag.parse(text) else { throw .invalidData("malformed tag: \(text)") }
        self = tag
    }

    /// Parses the UTF-8 bytes of a tag (as they come in a payload).
    init(parsing bytes: UnsafeRawBufferPointer) throws(EAPIError) {
        guard let tag = PLCTag.parse(bytes) else {
            throw .invalidData("malformed tag: \(String(decoding: bytes, as: UTF8.self))")
        }
        self = tag
    }

    static func parse(_ text: String) -> PLCTag? {
        var text = text
        return text.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> PLCTag? {
        let open = UInt8(ascii: "["), close = UInt8(ascii: "]"), dash = UInt8(ascii: "-")
        let n = bytes.count
        guard n > 0 else { return nil }
        if bytes[n - 1] != close { return PLCTag(name: String(decoding: bytes, as: UTF8.self), selector: .whole) }
        var first = -1
        for i in 0..<n where bytes[i] == open || bytes[i] == close {
            first = i
            break
        }
        // `name[...]`: the first bracket opens, after a non-empty name; the
        // last byte closes; no bracket in between.
        guard first > 0, bytes[first] == open, n - first > 2 else { return nil }
        let lo = first + 1, hi = n - 1  // the inner bytes: lo..<hi
        var dashAt = -1
        for i in lo..<hi {
            let b = bytes[i]
            if b == open || b == close { return nil }
            if b == dash {
                if dashAt >= 0 { return nil }
                dashAt = i
            }
        }
        let selector: Selector
        if dashAt < 0 {
            guard let v = number(bytes, lo, hi) else { return nil }
            selector = .index(v)
        } else {
            let hasLower = dashAt > lo, hasUpper = dashAt + 1 < hi
            guard hasLower || hasUpper else { return nil }
            var lower = 0
            if hasLower {
                guard let l = number(bytes, lo, dashAt) else { return nil }
                lower = l
            }
            if hasUpper {
                guard let upper = number(bytes, dashAt + 1, hi), lower <= upper else { return nil }
                selector = .range(lower: lower, upper: upper)
            } else {
                selector = .range(lower: lower, upper: nil)
            }
        }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<first]), as: UTF8.self)
        return PLCTag(name: name, selector: selector)
    }

    /// Decimal digits only, at most `maxIndex` (so no overflow either).
    private static func number(_ bytes: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> Int? {
        guard from < to else { return nil }
        var v = 0
        for i in from..<to {
            let b = bytes[i]
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
