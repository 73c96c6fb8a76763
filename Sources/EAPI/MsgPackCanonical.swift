extension MsgPackScanner {
    /// Whether `bytes` are exactly one MessagePack value in the form
    /// `MsgPackValue(decoding:)` followed by `encoded()` would give back,
    /// byte for byte, nested at most `maxDepth` deep (libmsgpack refuses
    /// deep nesting), with only ASCII in its strings (decoding repairs
    /// invalid UTF-8, so other text could change).
    ///
    /// Such bytes can be stored and sent on as they came, skipping the
    /// decode and the encode; anything else takes the general path, which
    /// gives the same result more slowly. The smallest forms are what
    /// libmsgpack's packers write: ints by value (non-negative ones
    /// unsigned), str/bin/ext/array/map headers by length, no NaN floats
    /// (a float32 NaN may come back with other bits).
    public static func isCanonical(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 8) -> Bool {
        canonicalEnd(bytes, from: 0, maxDepth: maxDepth) == bytes.count
    }

    /// A big-endian unsigned integer of `n` bytes at `at`; nil past the end.
    @inlinable
    public static func bigEndian(_ b: UnsafeRawBufferPointer, _ at: Int, _ n: Int) -> UInt64? {
        guard at >= 0, b.count - at >= n else { return nil }
        var v: UInt64 = 0
        for i in 0..<n { v = v << 8 | UInt64(b[at + i]) }
        return v
    }

    /// Whether `n` bytes from `from` are ASCII (eight at a time).
    @inline(__always)
    static func ascii(_ b: UnsafeRawBufferPointer, _ from: Int, _ n: Int) -> Bool {
        var i = from
        let end = from + n
        while end - i >= 8 {
            if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            i += 8
        }
        while i < end {
            if b[i] >= 0x80 { return false }
            i += 1
        }
        return true
    }

    /// What the value at `at` is, for the canonical walk.
    @usableFromInline
    enum Head {
        /// A scalar that ends at the position given.
        case scalar(Int)
        /// A container with this many elements (map: keys and values),
        /// which start at the position given.
        case container(Int, Int)
        /// Not canonical (or past the end).
        case invalid
    }

    /// The head of the value at `at`: one byte, or a few more. With
    /// `strict` false, any well-formed head goes (any width, any bytes).
    static func head(_ b: UnsafeRawBufferPointer, _ at: Int, strict: Bool = true) -> Head {
        let end = b.count
        guard at < end else { return .invalid }
        let t = b[at]
        let p = at + 1
        if !strict { return looseHead(b, t, p) }
        switch t {
        case 0x00...0x7F, 0xE0...0xFF, 0xC0, 0xC2, 0xC3:
            return .scalar(p)
        case 0xA0...0xBF:
            let n = Int(t & 0x1F)
            return end - p >= n && ascii(b, p, n) ? .scalar(p + n) : .invalid
        case 0x90...0x9F:
            return .container(Int(t & 0x0F), p)
        case 0x80...0x8F:
            return .container(2 * Int(t & 0x0F), p)
        case 0xCC, 0xCD, 0xCE, 0xCF:
            let width = 1 << Int(t &- 0xCC)
            guard let v = bigEndian(b, p, width) else { return .invalid }
            // pack_int64 of a non-negative value: the smallest unsigned form
            let smallest: UInt64 = t == 0xCC ? 0x80 : t == 0xCD ? 0x100 : t == 0xCE ? 0x1_0000 : 0x1_0000_0000
            return v >= smallest ? .scalar(p + width) : .invalid
        case 0xD0, 0xD1, 0xD2, 0xD3:
            let width = 1 << Int(t &- 0xD0)
            guard let raw = bigEndian(b, p, width) else { return .invalid }
            let shift = UInt64(64 - 8 * width)
            let v = Int64(bitPattern: raw << shift) >> Int64(shift)
            // non-negative values decode as unsigned; negative ones take the
            // smallest signed form
            let floor: Int64 = t == 0xD0 ? -32 : t == 0xD1 ? -128 : t == 0xD2 ? -32768 : -2_147_483_648
            return v < floor ? .scalar(p + width) : .invalid
        case 0xCA:
            guard let v = bigEndian(b, p, 4), !Float(bitPattern: UInt32(v)).isNaN else { return .invalid }
            return .scalar(p + 4)
        case 0xCB:
            guard end - p >= 8,
                  !Double(bitPattern: b.loadUnaligned(fromByteOffset: p, as: UInt64.self).bigEndian).isNaN
            else { return .invalid }
            return .scalar(p + 8)
        case 0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9:
            // str, bin, ext: a length field, then the bytes (ext: a type byte too)
            let field: Int
            let smallest: UInt64
            switch t {
            case 0xD9: (field, smallest) = (1, 32)
            case 0xDA, 0xC5, 0xC8: (field, smallest) = (2, 0x100)
            case 0xDB, 0xC6, 0xC9: (field, smallest) = (4, 0x1_0000)
            default: (field, smallest) = (1, 0)  // C4, C7
            }
            guard let n = bigEndian(b, p, field), n >= smallest, n <= UInt64(end) else { return .invalid }
            if t == 0xC7, n == 1 || n == 2 || n == 4 || n == 8 || n == 16 { return .invalid }  // fixext's
            let start = p + field
            let size = Int(n) + (t >= 0xC7 && t <= 0xC9 ? 1 : 0)
            guard end - start >= size else { return .invalid }
            if t >= 0xD9, !ascii(b, start, Int(n)) { return .invalid }
            return .scalar(start + size)
        case 0xD4, 0xD5, 0xD6, 0xD7, 0xD8:
            let size = 1 + (1 << Int(t &- 0xD4))  // type byte + 1, 2, 4, 8 or 16
            return end - p >= size ? .scalar(p + size) : .invalid
        case 0xDC, 0xDD, 0xDE, 0xDF:
            let field = t == 0xDC || t == 0xDE ? 2 : 4
            guard let n = bigEndian(b, p, field), n >= (field == 2 ? 16 : 0x1_0000), n <= UInt64(end) else {
                return .invalid
            }
            return .container(t >= 0xDE ? 2 * Int(n) : Int(n), p + field)
        default:
            return .invalid
        }
    }

    /// `head` for any well-formed value.
    private static func looseHead(_ b: UnsafeRawBufferPointer, _ t: UInt8, _ p: Int) -> Head {
        let end = b.count
        func sized(_ field: Int, extra: Int = 0) -> Head {
            guard let n = bigEndian(b, p, field), n <= UInt64(end) else { return .invalid }
            let size = Int(n) + extra
            return end - p - field >= size ? .scalar(p + field + size) : .invalid
        }
        func fixed(_ n: Int) -> Head { end - p >= n ? .scalar(p + n) : .invalid }
        switch t {
        case 0x00...0x7F, 0xE0...0xFF, 0xC0, 0xC2, 0xC3: return .scalar(p)
        case 0xA0...0xBF: return fixed(Int(t & 0x1F))
        case 0x90...0x9F: return .container(Int(t & 0x0F), p)
        case 0x80...0x8F: return .container(2 * Int(t & 0x0F), p)
        case 0xCC, 0xD0: return fixed(1)
        case 0xCD, 0xD1: return fixed(2)
        case 0xCE, 0xD2, 0xCA: return fixed(4)
        case 0xCF, 0xD3, 0xCB: return fixed(8)
        case 0xD9, 0xC4: return sized(1)
        case 0xDA, 0xC5: return sized(2)
        case 0xDB, 0xC6: return sized(4)
        case 0xC7: return sized(1, extra: 1)
        case 0xC8: return sized(2, extra: 1)
        case 0xC9: return sized(4, extra: 1)
        case 0xD4, 0xD5, 0xD6, 0xD7, 0xD8: return fixed(1 + (1 << Int(t &- 0xD4)))
        case 0xDC, 0xDE:
            guard let n = bigEndian(b, p, 2) else { return .invalid }
            return .container(t == 0xDE ? 2 * Int(n) : Int(n), p + 2)
        case 0xDD, 0xDF:
            guard let n = bigEndian(b, p, 4), n <= UInt64(end) else { return .invalid }
            return .container(t == 0xDF ? 2 * Int(n) : Int(n), p + 4)
        default: return .invalid
        }
    }

    /// The end of the well-formed value at `start`, nested at most
    /// `maxDepth` deep (what libmsgpack surely decodes), or nil.
    public static func valueEnd(_ b: UnsafeRawBufferPointer, from start: Int, maxDepth: Int = 8) -> Int? {
        switch head(b, start, strict: false) {
        case .scalar(let end): return end
        case .invalid: return nil
        case .container:
            return withUnsafeTemporaryAllocation(of: Int.self, capacity: maxDepth + 1) { stack in
                walk(b, from: start, maxDepth: maxDepth, strict: false, stack: stack.baseAddress!)
            }
        }
    }

    /// The end of the canonical value at `start` (see `isCanonical`), or
    /// nil when the bytes there are not one. Iterative: a stack of counts,
    /// one per open container, at most `maxDepth` deep.
    public static func canonicalEnd(_ b: UnsafeRawBufferPointer, from start: Int, maxDepth: Int = 8) -> Int? {
        switch head(b, start) {
        case .scalar(let end): return end
        case .invalid: return nil
        case .container:
            return withUnsafeTemporaryAllocation(of: Int.self, capacity: maxDepth + 1) { stack in
                walk(b, from: start, maxDepth: maxDepth, strict: true, stack: stack.baseAddress!)
            }
        }
    }

    private static func walk(_ b: UnsafeRawBufferPointer, from start: Int, maxDepth: Int, strict: Bool,
                             stack: UnsafeMutablePointer<Int>) -> Int? {
        var p = start
        var depth = 0
        var remaining = 1
        while true {
            while remaining == 0 {
                if depth == 0 { return p }
                depth -= 1
                remaining = stack[depth]
            }
            remaining -= 1
            switch head(b, p, strict: strict) {
            case .scalar(let end):
                p = end
            case .invalid:
                return nil
            case .container(let items, let first):
                // an empty container is a level too; each element takes a
                // byte at least
                guard depth < maxDepth, items <= b.count - first else { return nil }
                p = first
                if items > 0 {
                    stack[depth] = remaining
                    depth += 1
                    remaining = items
                }
            }
        }
    }
}

extension MsgPackValue {
    /// Decodes one value that `MsgPackScanner.valueEnd` accepted, exactly as
    /// `init(decoding:)` would: scalars straight from the bytes, containers
    /// through libmsgpack. (A float32 NaN goes through libmsgpack as well,
    /// which may change its bits.)
    public init(decodingValid bytes: UnsafeRawBufferPointer) throws(EAPIError) {
        if let scalar = Self.scalar(bytes) {
            self = scalar
        } else {
            self = try MsgPackValue(decoding: bytes)
        }
    }

    /// A scalar that fills `b` (well-formed), decoded as `init(decoding:)`
    /// would; nil for anything else.
    public static func scalarValue(_ b: UnsafeRawBufferPointer) -> MsgPackValue? { scalar(b) }

    static func scalar(_ b: UnsafeRawBufferPointer) -> MsgPackValue? {
        guard b.count > 0 else { return nil }
        let t = b[0]
        let n = b.count
        func big(_ width: Int) -> UInt64? {
            n == 1 + width ? MsgPackScanner.bigEndian(b, 1, width) : nil
        }
        func text(_ field: Int) -> MsgPackValue? {
            guard let len = field == 0 ? UInt64(t & 0x1F) : MsgPackScanner.bigEndian(b, 1, field),
                  UInt64(n - 1 - field) == len
            else { return nil }
            return .string(String(decoding: UnsafeRawBufferPointer(rebasing: b[(1 + field)...]), as: UTF8.self))
        }
        switch t {
        case 0x00...0x7F: return n == 1 ? .int(Int64(t)) : nil
        case 0xE0...0xFF: return n == 1 ? .int(Int64(Int8(bitPattern: t))) : nil
        case 0xC0: return n == 1 ? .nil : nil
        case 0xC2, 0xC3: return n == 1 ? .bool(t == 0xC3) : nil
        case 0xCC, 0xCD, 0xCE, 0xCF:
            return big(1 << Int(t &- 0xCC)).map { .unsigned($0) }
        case 0xD0, 0xD1, 0xD2, 0xD3:
            let width = 1 << Int(t &- 0xD0)
            guard let raw = big(width) else { return nil }
            let shift = UInt64(64 - 8 * width)
            return .int(Int64(bitPattern: raw << shift) >> Int64(shift))
        case 0xCA:
            guard let raw = big(4) else { return nil }
            let f = Float(bitPattern: UInt32(raw))
            return f.isNaN ? nil : .float(f)
        case 0xCB:
            return big(8).map { .double(Double(bitPattern: $0)) }
        case 0xA0...0xBF: return text(0)
        case 0xD9: return text(1)
        case 0xDA: return text(2)
        case 0xDB: return text(4)
        default: return nil
        }
    }
}
