#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CEvaFFI

/// Packs MessagePack into a growable buffer with libmsgpack's packer.
///
/// A class because the packer keeps a pointer to the buffer, so neither may
/// move; reuse one writer per thread (`reset()`) to keep the hot path free of
/// allocations once the buffer has grown.
public final class MsgPackWriter {
    private let buffer: UnsafeMutablePointer<msgpack_sbuffer>
    private let packer: UnsafeMutablePointer<msgpack_packer>

    /// Both in one block of two cache lines of their own: writers of
    /// different threads (each launcher thread has one) never share a line,
    /// so one thread's writes do not slow another's.
    private static let blockSize = 128

    public init() {
        let block = UnsafeMutableRawPointer.allocate(byteCount: Self.blockSize, alignment: 64)
        buffer = block.bindMemory(to: msgpack_sbuffer.self, capacity: 1)
        packer = (block + 64).bindMemory(to: msgpack_packer.self, capacity: 1)
        msgpack_sbuffer_init(buffer)
        msgpack_packer_init(packer, buffer, msgpack_sbuffer_write)
    }

    deinit {
        msgpack_sbuffer_destroy(buffer)
        UnsafeMutableRawPointer(buffer).deallocate()
    }

    /// Forgets what was written; keeps the memory.
    public func reset() { buffer.pointee.size = 0 }

    public var count: Int { buffer.pointee.size }

    /// The bytes written so far; valid until the next write or reset.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer.pointee.data, count: buffer.pointee.size)
    }

    public func toArray() -> [UInt8] { Array(bytes) }

    public func packNil() { msgpack_pack_nil(packer) }
    public func packBool(_ v: Bool) { _ = v ? msgpack_pack_true(packer) : msgpack_pack_false(packer) }
    public func packInt(_ v: Int64) { msgpack_pack_int64(packer, v) }
    public func packUInt(_ v: UInt64) { msgpack_pack_uint64(packer, v) }
    public func packFloat(_ v: Float) { msgpack_pack_float(packer, v) }
    public func packDouble(_ v: Double) { msgpack_pack_double(packer, v) }

    public func packString(_ s: String) {
        var s = s
        s.withUTF8 { packStringBytes(UnsafeRawBufferPointer($0)) }
    }

    /// A str whose UTF-8 bytes are already at hand.
    public func packStringBytes(_ utf8: UnsafeRawBufferPointer) {
        msgpack_pack_str(packer, utf8.count)
        if utf8.count > 0 { msgpack_pack_str_body(packer, utf8.baseAddress, utf8.count) }
    }

    public func packBinary(_ b: [UInt8]) {
        msgpack_pack_bin(packer, b.count)
        if !b.isEmpty { b.withUnsafeBytes { _ = msgpack_pack_bin_body(packer, $0.baseAddress, $0.count) } }
    }

    /// A bin whose bytes are already at hand.
    public func packBinary(_ b: UnsafeRawBufferPointer) {
        msgpack_pack_bin(packer, b.count)
        if b.count > 0 { _ = msgpack_pack_bin_body(packer, b.baseAddress, b.count) }
    }

    public func packArrayHeader(_ n: Int) { msgpack_pack_array(packer, n) }
    public func packMapHeader(_ n: Int) { msgpack_pack_map(packer, n) }

    /// Copies bytes that are already MessagePack (a stored, encoded value).
    public func packRaw(_ encoded: UnsafeRawBufferPointer) {
        if encoded.count > 0 { msgpack_sbuffer_write(buffer, encoded.baseAddress, encoded.count) }
    }

    /// Room for `count` more bytes past the end, without writing them:
    /// fill them, then `commit(count)` (or fewer). Valid until the next
    /// write. For copying bytes that arrive in pieces (a word at a time).
    public func reserve(_ count: Int) -> UnsafeMutableRawPointer {
        let b = buffer.pointee
        if b.data == nil || b.alloc - b.size < count {
            var alloc = max(b.alloc, 64)
            while alloc - b.size < count { alloc *= 2 }
            // msgpack_sbuffer_destroy frees with free(): realloc is its match.
            guard let grown = realloc(b.data, alloc) else { fatalError("out of memory") }
            buffer.pointee.data = grown.assumingMemoryBound(to: CChar.self)
            buffer.pointee.alloc = alloc
        }
        return UnsafeMutableRawPointer(buffer.pointee.data!) + buffer.pointee.size
    }

    /// Takes `count` reserved bytes into the written ones.
    public func commit(_ count: Int) { buffer.pointee.size += count }

    /// Forgets what was written past `count` bytes (keeps the memory).
    public func truncate(_ count: Int) {
        if count < buffer.pointee.size { buffer.pointee.size = count }
    }

    public func pack(_ value: MsgPackValue) {
        switch value {
        case .nil: packNil()
        case .bool(let v): packBool(v)
        case .int(let v): packInt(v)
        case .uint(let v): packUInt(v)
        case .float(let v): packFloat(v)
        case .double(let v): packDouble(v)
        case .string(let v): packString(v)
        case .binary(let v): packBinary(v)
        case .array(let a):
            packArrayHeader(a.count)
            for element in a { pack(element) }
        case .map(let m):
            packMapHeader(m.count)
            for entry in m.entries {
                pack(entry.key)
                pack(entry.value)
            }
        case .ext(let type, let data):
            msgpack_pack_ext(packer, data.count, type)
            if !data.isEmpty { data.withUnsafeBytes { _ = msgpack_pack_ext_body(packer, $0.baseAddress, $0.count) } }
        }
    }
}

extension MsgPackValue {
    /// The value encoded as MessagePack.
    public func encoded() -> [UInt8] {
        let writer = MsgPackWriter()
        writer.pack(self)
        return writer.toArray()
    }
}
