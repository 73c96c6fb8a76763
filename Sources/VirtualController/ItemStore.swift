#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI

/// The controller's items: state, a hash index on the OID's bytes (so a
/// call can look an item up straight from its payload, no String built),
/// and an index in OID order (so `list` needs no sort).
///
/// Values are kept encoded: an item's value only ever leaves as
/// MessagePack, so "did it change" is a byte comparison, and each item also
/// keeps its whole `{oid, status, value}` reply ready, so `get` and `list`
/// are a copy. Items are never removed, so a slot number stays valid.
struct ItemStore: ~Copyable {
    struct Item {
        let oid: OID
        /// The OID's UTF-8 bytes, the lookup key.
        let key: [UInt8]
        let hash: Int
        private(set) var status: Int16
        /// The value, encoded.
        private(set) var value: [UInt8]
        /// `{oid, status, value}` encoded, rebuilt on every change.
        private(set) var reply: [UInt8] = []

        init(oid: OID, key: [UInt8], hash: Int, status: Int16, value: [UInt8]) {
            self.oid = oid
            self.key = key
            self.hash = hash
            self.status = status
            self.value = value
            rebuildReply()
        }

        mutating func set(status: Int16?, value: [UInt8]?) {
            if let status { self.status = status }
            if let value { self.value = value }
            rebuildReply()
        }

        private mutating func rebuildReply() {
            var out: [UInt8] = []
            out.reserveCapacity(key.count + value.count + 24)
            out.append(0x83)
            out.append(contentsOf: [0xA3, 0x6F, 0x69, 0x64])  // "oid"
            MsgPackBytes.appendString(key, to: &out)
            out.append(contentsOf: [0xA6, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73])  // "status"
            MsgPackBytes.appendInt(Int64(status), to: &out)
            out.append(contentsOf: [0xA5, 0x76, 0x61, 0x6C, 0x75, 0x65])  // "value"
            out.append(contentsOf: value)
            reply = out
        }
    }

    private(set) var items: [Item] = []
    /// Open addressing, linear probing; a slot number or -1. Kept at most
    /// half full.
    private var table: [Int32] = Array(repeating: -1, count: 16)
    /// Slot numbers in OID order (byte order of the OID text).
    private(set) var order: [Int32] = []
    /// Seeds the hash per store, so colliding OIDs cannot be precomputed.
    private let seed = UInt64.random(in: 0...UInt64.max)

    var count: Int { items.count }

    static let encodedNil: [UInt8] = [0xC0]

    /// A seeded multiply-xorshift hash over 8-byte words: a few ns for an
    /// OID, where SipHash costs several times that.
    static func hash(_ key: UnsafeRawBufferPointer, seed: UInt64) -> Int {
        var h = seed ^ (UInt64(key.count) &* 0x9E37_79B9_7F4A_7C15)
        var i = 0
        let n = key.count
        while i + 8 <= n {
            h = (h ^ key.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(key[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return Int(truncatingIfNeeded: h)
    }

    /// The slot of the item whose OID text is `key`.
    func find(_ key: UnsafeRawBufferPointer) -> Int? {
        find(key, hash: Self.hash(key, seed: seed))
    }

    func find(_ oid: OID) -> Int? {
        var text = oid.description
        return text.withUTF8 { find(UnsafeRawBufferPointer($0)) }
    }

    private func find(_ key: UnsafeRawBufferPointer, hash: Int) -> Int? {
        let mask = table.count - 1
        var i = hash & mask
        while true {
            let slot = Int(table[i])
            if slot < 0 { return nil }
            if items[slot].hash == hash, items[slot].key.withUnsafeBytes({ Self.same($0, key) }) { return slot }
            i = (i + 1) & mask
        }
    }

    private static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }

    /// Adds an item that is not there yet; returns its slot.
    mutating func insert(_ oid: OID, status: Int16 = ItemStatus.ok, value: [UInt8] = encodedNil) -> Int {
        let key = Array(oid.description.utf8)
        let hash = key.withUnsafeBytes { Self.hash($0, seed: seed) }
        let slot = items.count
        items.append(Item(oid: oid, key: key, hash: hash, status: status, value: value))
        if items.count * 2 > table.count { rehash(capacity: table.count * 2) } else { place(slot, hash: hash) }
        // Binary search for the first OID above the new one.
        var lo = 0
        var hi = order.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Self.precedes(items[Int(order[mid])].key, key) { lo = mid + 1 } else { hi = mid }
        }
        order.insert(Int32(slot), at: lo)
        return slot
    }

    /// The slot of `oid`, created with status 1 and value nil when missing.
    mutating func findOrInsert(_ oid: OID) -> Int {
        find(oid) ?? insert(oid)
    }

    private mutating func place(_ slot: Int, hash: Int) {
        let mask = table.count - 1
        var i = hash & mask
        while table[i] >= 0 { i = (i + 1) & mask }
        table[i] = Int32(slot)
    }

    private mutating func rehash(capacity: Int) {
        table = Array(repeating: -1, count: capacity)
        for slot in items.indices { place(slot, hash: items[slot].hash) }
    }

    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

    mutating func setState(_ slot: Int, status: Int16?, value: [UInt8]?) {
        items[slot].set(status: status, value: value)
    }

    /// Writes `{oid, status, value}` of a slot (one copy).
    func write(_ slot: Int, to writer: MsgPackWriter) {
        items[slot].reply.withUnsafeBytes { writer.packRaw($0) }
    }
}

/// Hand encoding of the few MessagePack pieces the item replies need
/// (the smallest form, as libmsgpack packs them).
enum MsgPackBytes {
    static func appendString(_ utf8: [UInt8], to out: inout [UInt8]) {
        let n = utf8.count
        if n < 32 {
            out.append(0xA0 | UInt8(n))
        } else if n < 0x100 {
            out.append(0xD9)
            out.append(UInt8(n))
        } else if n < 0x10000 {
            out.append(0xDA)
            out.append(UInt8(n >> 8))
            out.append(UInt8(n & 0xFF))
        } else {
            out.append(0xDB)
            for s in [24, 16, 8, 0] { out.append(UInt8((n >> s) & 0xFF)) }
        }
        out.append(contentsOf: utf8)
    }

    static func appendInt(_ v: Int64, to out: inout [UInt8]) {
        switch v {
        case 0...0x7F:
            out.append(UInt8(v))
        case -32 ..< 0:
            out.append(UInt8(bitPattern: Int8(v)))
        case 0x80...0xFF:
            out.append(0xCC)
            out.append(UInt8(v))
        case 0x100...0xFFFF:
            out.append(0xCD)
            out.append(UInt8(v >> 8))
            out.append(UInt8(v & 0xFF))
        case Int64(Int8.min) ..< -32:
            out.append(0xD0)
            out.append(UInt8(bitPattern: Int8(v)))
        case Int64(Int16.min) ..< Int64(Int8.min):
            out.append(0xD1)
            let u = UInt16(bitPattern: Int16(v))
            out.append(UInt8(u >> 8))
            out.append(UInt8(u & 0xFF))
        default:
            // Not needed for int16 statuses; the general form for safety.
            out.append(0xD3)
            let u = UInt64(bitPattern: v)
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((u >> UInt64(s)) & 0xFF)) }
        }
    }
}

/// Field names as raw bytes, for writers that pack keys often.
enum Keys {
    static var oid: UnsafeRawBufferPointer { bytes("oid") }
    static var status: UnsafeRawBufferPointer { bytes("status") }
    static var value: UnsafeRawBufferPointer { bytes("value") }
    static var id: UnsafeRawBufferPointer { bytes("id") }

    private static func bytes(_ s: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }
}

extension MsgPackWriter {
    /// `{status, value}`, the payload of a `RAW/<path>` event.
    func packState(status: Int16, encodedValue: [UInt8]) {
        packMapHeader(2)
        packStringBytes(Keys.status)
        packInt(Int64(status))
        packStringBytes(Keys.value)
        encodedValue.withUnsafeBytes { packRaw($0) }
    }

    /// `{oid, status, value}`, an entry of a bulk `RAW` event or a `list`.
    func packItemState(key: [UInt8], status: Int16, encodedValue: [UInt8]) {
        packMapHeader(3)
        packStringBytes(Keys.oid)
        key.withUnsafeBytes { packStringBytes($0) }
        packStringBytes(Keys.status)
        packInt(Int64(status))
        packStringBytes(Keys.value)
        encodedValue.withUnsafeBytes { packRaw($0) }
    }
}
