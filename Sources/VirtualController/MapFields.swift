import EAPI

/// A map key of up to 8 ASCII bytes, as a number (big-endian) and a length.
struct ShortKey {
    let word: UInt64
    let count: Int

    init(_ s: StaticString) {
        precondition(s.utf8CodeUnitCount <= 8)
        var v: UInt64 = 0
        for i in 0..<s.utf8CodeUnitCount { v = v << 8 | UInt64(s.utf8Start[i]) }
        word = v
        count = s.utf8CodeUnitCount
    }

    /// Matches no key (fills unused places of `FieldKeys`).
    private init() {
        word = 0
        count = -1
    }

    static let none = ShortKey()
}

/// The keys a fast path wants, up to five, held inline (no allocation).
struct FieldKeys {
    let keys: (ShortKey, ShortKey, ShortKey, ShortKey, ShortKey)

    init(_ k0: StaticString, _ k1: StaticString, _ k2: StaticString? = nil, _ k3: StaticString? = nil,
         _ k4: StaticString? = nil) {
        keys = (ShortKey(k0), ShortKey(k1), k2.map(ShortKey.init) ?? .none, k3.map(ShortKey.init) ?? .none,
                k4.map(ShortKey.init) ?? .none)
    }

    init(_ k0: ShortKey, _ k1: ShortKey) {
        keys = (k0, k1, .none, .none, .none)
    }

    /// The place of a key given as `ShortKey` gives it, or -1.
    @inline(__always)
    func index(word: UInt64, count: Int) -> Int {
        if keys.0.count == count, keys.0.word == word { return 0 }
        if keys.1.count == count, keys.1.word == word { return 1 }
        if keys.2.count == count, keys.2.word == word { return 2 }
        if keys.3.count == count, keys.3.word == word { return 3 }
        if keys.4.count == count, keys.4.word == word { return 4 }
        return -1
    }
}

/// The first values of some keys of a map payload, found in its bytes, when
/// that is sure to give what decoding it would: the payload is one map whose
/// keys are all fixstrs and whose values are well-formed (or, with
/// `.canonical`, canonical: see `MsgPackScanner.isCanonical`) and nested no
/// deeper than libmsgpack surely decodes. Anything else (valid or not) gets
/// nil, and the caller takes its general path. The one reader of map fields
/// for every byte-level fast path (methods, actions, bound frames).
struct MapFields {
    enum Values {
        case wellFormed
        case canonical
    }

    /// The bytes of each wanted key's first value, nil when absent.
    private var values: (UnsafeRawBufferPointer?, UnsafeRawBufferPointer?, UnsafeRawBufferPointer?,
                         UnsafeRawBufferPointer?, UnsafeRawBufferPointer?) = (nil, nil, nil, nil, nil)
    /// Entries whose key is not wanted, or repeats a wanted one.
    private(set) var otherKeys = 0

    init?(_ payload: UnsafeRawBufferPointer, _ keys: FieldKeys, values kind: Values = .wellFormed) {
        let end = payload.count
        guard end > 0 else { return nil }
        var p: Int
        let count: Int
        switch payload[0] {
        case 0x80...0x8F:
            count = Int(payload[0] & 0x0F)
            p = 1
        case 0xDE:
            guard let n = MsgPackScanner.bigEndian(payload, 1, 2) else { return nil }
            count = Int(n)
            p = 3
        case 0xDF:
            guard let n = MsgPackScanner.bigEndian(payload, 1, 4), n <= UInt64(end) else { return nil }
            count = Int(n)
            p = 5
        default:
            return nil
        }
        for _ in 0..<count {
            guard p < end else { return nil }
            let k = payload[p]
            guard k >= 0xA0, k <= 0xBF else { return nil }
            let keyCount = Int(k & 0x1F)
            guard end - p - 1 >= keyCount else { return nil }
            var name: UInt64 = 0
            if keyCount <= 8 { for i in 0..<keyCount { name = name << 8 | UInt64(payload[p + 1 + i]) } }
            p += 1 + keyCount
            let valueEnd = kind == .canonical
                ? MsgPackScanner.canonicalEnd(payload, from: p, maxDepth: 7)
                : MsgPackScanner.valueEnd(payload, from: p, maxDepth: 7)
            guard let valueEnd else { return nil }
            let value = UnsafeRawBufferPointer(rebasing: payload[p..<valueEnd])
            let n = keyCount <= 8 ? keys.index(word: name, count: keyCount) : -1
            if n < 0 || !store(value, at: n) { otherKeys += 1 }
            p = valueEnd
        }
        guard p == end else { return nil }
    }

    /// Keeps the first value of key `n`; false when it already has one.
    @inline(__always)
    private mutating func store(_ value: UnsafeRawBufferPointer, at n: Int) -> Bool {
        switch n {
        case 0: if values.0 != nil { return false } else { values.0 = value }
        case 1: if values.1 != nil { return false } else { values.1 = value }
        case 2: if values.2 != nil { return false } else { values.2 = value }
        case 3: if values.3 != nil { return false } else { values.3 = value }
        default: if values.4 != nil { return false } else { values.4 = value }
        }
        return true
    }

    /// The two-key form (the first two wanted keys).
    init?(_ payload: UnsafeRawBufferPointer, _ k0: ShortKey, _ k1: ShortKey) {
        self.init(payload, FieldKeys(k0, k1))
    }

    /// The bytes of the value of wanted key `n` (0...4), nil when absent.
    subscript(n: Int) -> UnsafeRawBufferPointer? {
        switch n {
        case 0: values.0
        case 1: values.1
        case 2: values.2
        case 3: values.3
        default: values.4
        }
    }

    var first: UnsafeRawBufferPointer? { values.0 }
    var second: UnsafeRawBufferPointer? { values.1 }

    /// An integer that fills `b`, in any of its forms, that fits Int64.
    static func int(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard case .int(let v)? = MsgPackValue.scalarValue(b) else { return nil }
        return v
    }

    /// A str that fills `b`: its bytes.
    static func str(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard b.count > 0 else { return nil }
        let t = b[0]
        let field: Int
        switch t {
        case 0xA0...0xBF: field = 0
        case 0xD9: field = 1
        case 0xDA: field = 2
        case 0xDB: field = 4
        default: return nil
        }
        return UnsafeRawBufferPointer(rebasing: b[(1 + field)...])
    }

    /// Whether `b` is nil.
    static func isNil(_ b: UnsafeRawBufferPointer) -> Bool { b.count == 1 && b[0] == 0xC0 }
}
