#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads one field of a MessagePack map straight from the payload bytes,
/// without building a value tree: the hot methods (`get`, `var.get`) need
/// only `i`, and skipping the decoder saves its allocations.
///
/// The whole payload is still validated: it must be exactly one well-formed
/// MessagePack value (the same rule `MsgPackValue(decoding:)` applies), so
/// the fast path and the general path answer the same codes.
public enum MsgPackScanner {
    public enum Field {
        /// The payload is not a single MessagePack value.
        case malformed
        /// It is a value, but not a map.
        case notMap
        /// A map without the key.
        case missing
        /// The key is there but its value is not a str.
        case notString
        /// The str's bytes (pointing into the payload).
        case string(UnsafeRawBufferPointer)
    }

    /// Finds the str value under a one-byte-or-longer ASCII `key` of a
    /// top-level map. When the key appears twice the last one counts, as a
    /// map decoder that overwrites would see it.
    public static func stringField(_ payload: UnsafeRawBufferPointer, key: StaticString) -> Field {
        var cursor = Cursor(payload)
        guard let count = cursor.mapHeader() else {
            // Not a map header: tell malformed input from another type.
            var probe = Cursor(payload)
            return probe.skipValues(1) && probe.atEnd ? .notMap : .malformed
        }
        var result = Field.missing
        let keyBytes = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        for _ in 0..<count {
            if let k = cursor.str() {
                if equal(k, keyBytes) {
                    if let v = cursor.str() {
                        result = .string(v)
                    } else {
                        guard cursor.skipValues(1) else { return .malformed }
                        result = .notString
                    }
                    continue
                }
            } else if cursor.failed {
                return .malformed
            } else {
                guard cursor.skipValues(1) else { return .malformed }
            }
            guard cursor.skipValues(1) else { return .malformed }
        }
        return cursor.atEnd ? result : .malformed
    }

    /// Whether the bytes are exactly one well-formed MessagePack value.
    ///
    /// `MsgPackValue(decoding:)` checks this first: libmsgpack sizes its
    /// buffers from the counts in the headers, so five bytes claiming a map
    /// of 4G entries make it ask malloc for 256 GB before it notices the
    /// payload is short. This walk allocates nothing and refuses any count
    /// larger than the bytes left.
    public static func isWellFormed(_ payload: UnsafeRawBufferPointer) -> Bool {
        var cursor = Cursor(payload)
        return cursor.skipValues(1) && cursor.atEnd
    }

    public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0 else { return true }
        return memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }

    /// A read position in a payload. Every read checks bounds.
    struct Cursor {
        let bytes: UnsafeRawBufferPointer
        var position = 0
        /// Set when a read ran past the end or met an invalid byte.
        var failed = false

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool { !failed && position == bytes.count }

        private mutating func byte() -> UInt8? {
            guard position < bytes.count else { failed = true; return nil }
            defer { position += 1 }
            return bytes[position]
        }

        /// A big-endian unsigned integer of `n` bytes (1, 2 or 4).
        private mutating func length(_ n: Int) -> Int? {
            guard bytes.count - position >= n else { failed = true; return nil }
            var v = 0
            for i in 0..<n { v = v << 8 | Int(bytes[position + i]) }
            position += n
            return v
        }

        private mutating func advance(_ n: Int) -> Bool {
            guard n >= 0, bytes.count - position >= n else { failed = true; return false }
            position += n
            return true
        }

        /// A map header's entry count; nil (position unchanged, not failed)
        /// when the next value is something else.
        mutating func mapHeader() -> Int? {
            guard position < bytes.count else { failed = true; return nil }
            let b = bytes[position]
            switch b {
            case 0x80...0x8F:
                position += 1
                return Int(b & 0x0F)
            case 0xDE:
                position += 1
                return length(2)
            case 0xDF:
                position += 1
                return length(4)
            default:
                return nil
            }
        }

        /// A str's bytes; nil (position unchanged, not failed) when the next
        /// value is not a str, nil and failed when it is a truncated str.
        mutating func str() -> UnsafeRawBufferPointer? {
            guard position < bytes.count else { failed = true; return nil }
            let b = bytes[position]
            let n: Int?
            switch b {
            case 0xA0...0xBF:
                position += 1
                n = Int(b & 0x1F)
            case 0xD9:
                position += 1
                n = length(1)
            case 0xDA:
                position += 1
                n = length(2)
            case 0xDB:
                position += 1
                n = length(4)
            default:
                return nil
            }
            guard let n, bytes.count - position >= n else { failed = true; return nil }
            let start = position
            position += n
            return UnsafeRawBufferPointer(rebasing: bytes[start..<start + n])
        }

        /// Skips `count` whole values, nested ones included, without
        /// recursion (so hostile nesting cannot exhaust the stack).
        mutating func skipValues(_ count: Int) -> Bool {
            var pending = count
            while pending > 0 {
                pending -= 1
                guard let b = byte() else { return false }
                switch b {
                case 0x00...0x7F, 0xE0...0xFF, 0xC0, 0xC2, 0xC3:
                    continue
                case 0x80...0x8F:
                    pending += 2 * Int(b & 0x0F)
                case 0x90...0x9F:
                    pending += Int(b & 0x0F)
                case 0xA0...0xBF:
                    guard advance(Int(b & 0x1F)) else { return false }
                case 0xC1:
                    failed = true
                    return false
                case 0xC4, 0xD9:
                    guard let n = length(1), advance(n) else { return false }
                case 0xC5, 0xDA:
                    guard let n = length(2), advance(n) else { return false }
                case 0xC6, 0xDB:
                    guard let n = length(4), advance(n) else { return false }
                case 0xC7:
                    guard let n = length(1), advance(n + 1) else { return false }
                case 0xC8:
                    guard let n = length(2), advance(n + 1) else { return false }
                case 0xC9:
                    guard let n = length(4), advance(n + 1) else { return false }
                case 0xCA, 0xCE, 0xD2:
                    guard advance(4) else { return false }
                case 0xCB, 0xCF, 0xD3:
                    guard advance(8) else { return false }
                case 0xCC, 0xD0:
                    guard advance(1) else { return false }
                case 0xCD, 0xD1:
                    guard advance(2) else { return false }
                case 0xD4:
                    guard advance(2) else { return false }
                case 0xD5:
                    guard advance(3) else { return false }
                case 0xD6:
                    guard advance(5) else { return false }
                case 0xD7:
                    guard advance(9) else { return false }
                case 0xD8:
                    guard advance(17) else { return false }
                case 0xDC:
                    guard let n = length(2) else { return false }
                    pending += n
                case 0xDD:
                    guard let n = length(4) else { return false }
                    pending += n
                case 0xDE:
                    guard let n = length(2) else { return false }
                    pending += 2 * n
                case 0xDF:
                    guard let n = length(4) else { return false }
                    pending += 2 * n
                default:
                    failed = true
                    return false
                }
                // Each pending value needs at least one byte: a count past
                // what is left is malformed, and stopping now bounds the work.
                if pending > bytes.count - position {
                    failed = true
                    return false
                }
            }
            return true
        }
    }
}
