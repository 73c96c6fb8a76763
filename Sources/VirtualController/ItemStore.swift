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
/// MessagePack, so `get` copies bytes, and "did it change" is a byte
/// comparison. Items are never removed, so a slot number stays valid.
struct ItemStore: ~Copyable {
    struct Item {
        let oid: OID
        /// The OID's UTF-8 bytes, the lookup key.
        let key: [UInt8]
        let hash: Int
        var status: Int16
        /// The value, encoded.
        var value: [UInt8]
    }

    private(set) var items: [Item] = []
    /// Open addressing, linear probing; a slot number or -1. Kept at most
    /// half full.
    private var table: [Int32] = Array(repeating: -1, count: 16)
    /// Slot numbers in OID order (byte order of the OID text).
    private(set) var order: [Int32] = []

    var count: Int { items.count }

    static let encodedNil: [UInt8] = [0xC0]

    static func hash(_ key: UnsafeRawBufferPointer) -> Int {
        var h = Hasher()
        h.combine(bytes: key)
        return h.finalize()
    }

    /// The slot of the item whose OID text is `key`.
    func find(_ key: UnsafeRawBufferPointer) -> Int? {
        find(key, hash: Self.hash(key))
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
        let hash = key.withUnsafeBytes { Self.hash($0) }
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
        if let status { items[slot].status = status }
        if let value { items[slot].value = value }
    }

    /// Writes `{oid, status, value}` of a slot.
    func write(_ slot: Int, to writer: MsgPackWriter) {
        writer.packMapHeader(3)
        writer.packStringBytes(Keys.oid)
        items[slot].key.withUnsafeBytes { writer.packStringBytes($0) }
        writer.packStringBytes(Keys.status)
        writer.packInt(Int64(items[slot].status))
        writer.packStringBytes(Keys.value)
        items[slot].value.withUnsafeBytes { writer.packRaw($0) }
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
