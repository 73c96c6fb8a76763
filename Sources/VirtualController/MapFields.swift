import EAPI

/// A map key of up to 8 ASCII bytes, as a number (big-endian) and a length.
struct ShortKey: Equatable {
    let word: UInt64
    let count: Int

    init(_ s: StaticString) {
        precondition(s.utf8CodeUnitCount <= 8)
        var v: UInt64 = 0
        for i in 0..<s.utf8CodeUnitCount { v = v << 8 | UInt64(s.utf8Start[i]) }
        word = v
        count = s.utf8CodeUnitCount
    }

    init(word: UInt64, count: Int) {
        self.word = word
        self.count = count
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

/// Walks a map payload's entries in its bytes: the one map reader of every
/// byte-level fast path (`set`, `var.set`, `action`/`run`, bound frames).
/// It takes a payload only when reading it so is sure to give what decoding
/// it would: one map (fixmap, map16, map32) whose keys are all fixstrs and
/// whose values are well-formed and nested no deeper than libmsgpack surely
/// decodes (and canonical, see `MsgPackScanner.isCanonical`, where the
/// caller asks: a value it keeps as it came). The caller decides per key;
/// anything the reader does not take (a nil from `nextKey`/`value`, or
/// `atEnd` false after the last entry) goes to the caller's general path.
/// Everything is inlined into the caller's loop: no allocation, no copy.
struct MapReader {
    private let payload: UnsafeRawBufferPointer
    private var p: Int
    private var remaining: Int

    @inline(__always)
    init?(_ payload: UnsafeRawBufferPointer) {
        let end = payload.count
        guard end > 0 else { return nil }
        switch payload[0] {
        case 0x80...0x8F:
            remaining = Int(payload[0] & 0x0F)
            p = 1
        case 0xDE:
            guard let n = MsgPackScanner.bigEndian(payload, 1, 2) else { return nil }
            remaining = Int(n)
            p = 3
        case 0xDF:
            guard let n = MsgPackScanner.bigEndian(payload, 1, 4), n <= UInt64(end) else { return nil }
            remaining = Int(n)
            p = 5
        default:
            return nil
        }
        self.payload = payload
    }

    /// Entries left to read.
    var hasMore: Bool { remaining > 0 }

    /// Every entry read and nothing after the map.
    var atEnd: Bool { remaining == 0 && p == payload.count }

    /// The next entry's key: a fixstr, as `ShortKey` spells keys of up to 8
    /// bytes (a longer key matches none of those); nil when it is not a
    /// fixstr or is cut short. `value` must follow.
    @inline(__always)
    mutating func nextKey() -> ShortKey? {
        let end = payload.count
        guard remaining > 0, p < end else { return nil }
        let k = payload[p]
        guard k >= 0xA0, k <= 0xBF else { return nil }
        let count = Int(k & 0x1F)
        guard end - p - 1 >= count else { return nil }
        var word: UInt64 = 0
        if count <= 8 {
            if end - p - 1 >= 8 {
                // One load, then drop the bytes past the key (`>>` of 64 gives 0).
                let raw = UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: p + 1, as: UInt64.self))
                word = raw >> UInt64(64 - 8 * count)
            } else {
                for i in 0..<count { word = word << 8 | UInt64(payload[p + 1 + i]) }
            }
        }
        p += 1 + count
        remaining -= 1
        return ShortKey(word: word, count: count)
    }

    /// The bytes of the entry's value; nil when it is not one this reader
    /// takes.
    @inline(__always)
    mutating func value() -> UnsafeRawBufferPointer? {
        let start = p
        if let e = Self.shortScalarEnd(payload, start) {
            p = e
        } else {
            guard let e = MsgPackScanner.valueEnd(payload, from: start, maxDepth: 7) else { return nil }
            p = e
        }
        return UnsafeRawBufferPointer(rebasing: payload[start..<p])
    }

    /// The entry's value when it is a str (any of its forms): its bytes;
    /// nil when it is something else.
    @inline(__always)
    mutating func string() -> UnsafeRawBufferPointer? {
        let end = payload.count
        guard p < end else { return nil }
        let t = payload[p]
        let start: Int
        let n: Int
        switch t {
        case 0xA0...0xBF: (start, n) = (p + 1, Int(t & 0x1F))
        case 0xD9, 0xDA, 0xDB:
            let field = t == 0xD9 ? 1 : t == 0xDA ? 2 : 4
            guard let v = MsgPackScanner.bigEndian(payload, p + 1, field), v <= UInt64(end) else { return nil }
            (start, n) = (p + 1 + field, Int(v))
        default: return nil
        }
        guard end - start >= n else { return nil }
        p = start + n
        return UnsafeRawBufferPointer(rebasing: payload[start..<p])
    }

    /// The entry's value when it is nil (`.some(nil)`) or an integer that
    /// fits Int64, in any of its forms; nil when it is something else.
    @inline(__always)
    mutating func integerOrNil() -> Int64?? {
        let end = payload.count
        guard p < end else { return nil }
        let t = payload[p]
        switch t {
        case 0x00...0x7F:
            p += 1
            return .some(Int64(t))
        case 0xE0...0xFF:
            p += 1
            return .some(Int64(Int8(bitPattern: t)))
        case 0xC0:
            p += 1
            return .some(nil)
        case 0xCC...0xD3:
            let width = 1 << Int((t &- 0xCC) & 3)
            guard end - p - 1 >= width, let v = MapFields.int(UnsafeRawBufferPointer(rebasing: payload[p..<p + 1 + width]))
            else { return nil }
            p += 1 + width
            return .some(v)
        default:
            return nil
        }
    }

    /// The bytes of the entry's value when it is canonical (the caller keeps
    /// it as it came); nil otherwise.
    @inline(__always)
    mutating func canonicalValue() -> UnsafeRawBufferPointer? {
        let start = p
        guard let e = MsgPackScanner.canonicalEnd(payload, from: start, maxDepth: 7) else { return nil }
        p = e
        return UnsafeRawBufferPointer(rebasing: payload[start..<e])
    }

    /// Where the value at `p` ends when it is one of the usual short
    /// scalars (fixint, nil, bool, fixstr, int/uint 8-64, float); nil for
    /// anything else, which `MsgPackScanner.valueEnd` then reads.
    @inline(__always)
    private static func shortScalarEnd(_ b: UnsafeRawBufferPointer, _ p: Int) -> Int? {
        guard p < b.count else { return nil }
        let t = b[p]
        let size: Int
        switch t {
        case 0x00...0x7F, 0xE0...0xFF, 0xC0, 0xC2, 0xC3: size = 1
        case 0xA0...0xBF: size = 1 + Int(t & 0x1F)
        case 0xCC, 0xD0: size = 2
        case 0xCD, 0xD1: size = 3
        case 0xCA, 0xCE, 0xD2: size = 5
        case 0xCB, 0xCF, 0xD3: size = 9
        default: return nil
        }
        return b.count - p >= size ? p + size : nil
    }
}

/// The first values of the wanted keys of a map payload (up to five), read
/// with `MapReader`; nil when the reader does not take the payload.
struct MapFields {
    private var values: (UnsafeRawBufferPointer?, UnsafeRawBufferPointer?, UnsafeRawBufferPointer?,
                         UnsafeRawBufferPointer?, UnsafeRawBufferPointer?) = (nil, nil, nil, nil, nil)

    init?(_ payload: UnsafeRawBufferPointer, _ keys: FieldKeys) {
        guard var reader = MapReader(payload) else { return nil }
        var v0, v1, v2, v3, v4: UnsafeRawBufferPointer?
        while reader.hasMore {
            guard let key = reader.nextKey(), let value = reader.value() else { return nil }
            switch keys.index(word: key.word, count: key.count) {
            case 0 where v0 == nil: v0 = value
            case 1 where v1 == nil: v1 = value
            case 2 where v2 == nil: v2 = value
            case 3 where v3 == nil: v3 = value
            case 4 where v4 == nil: v4 = value
            default: break
            }
        }
        guard reader.atEnd else { return nil }
        values = (v0, v1, v2, v3, v4)
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
        guard let t = b.first else { return nil }
        switch t {
        case 0x00...0x7F: return b.count == 1 ? Int64(t) : nil
        case 0xE0...0xFF: return b.count == 1 ? Int64(Int8(bitPattern: t)) : nil
        case 0xCC, 0xCD, 0xCE, 0xCF:
            let width = 1 << Int(t &- 0xCC)
            guard b.count == 1 + width, let v = MsgPackScanner.bigEndian(b, 1, width), v <= UInt64(Int64.max)
            else { return nil }
            return Int64(v)
        case 0xD0, 0xD1, 0xD2, 0xD3:
            let width = 1 << Int(t &- 0xD0)
            guard b.count == 1 + width, let raw = MsgPackScanner.bigEndian(b, 1, width) else { return nil }
            let shift = UInt64(64 - 8 * width)
            return Int64(bitPattern: raw << shift) >> Int64(shift)
        default: return nil
        }
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
