#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI

/// The controller's items: a hash index on the OID's bytes (so a call can
/// look an item up straight from its payload, no String built), and an
/// index in OID order (so `list` needs no sort).
///
/// Each item's state lives in its cell (`ItemStates.Cell`): the encoded
/// `{oid, status, value}` reply, which `get` reads without the lock this
/// store lives behind, and from which the status and value are read back.
/// Values are kept encoded: an item's value only ever leaves as
/// MessagePack, so "did it change" is a byte comparison. Items are never
/// removed, so a slot number stays valid.
struct ItemStore: ~Copyable {
    struct Item {
        let oid: OID
        /// The OID's UTF-8 bytes, the lookup key.
        let key: [UInt8]
        let hash: Int
        /// Its state.
        let cell: ItemStates.Cell

        var status: Int16 { cell.status }
        /// The value, encoded.
        var value: [UInt8] { cell.value }
    }

    private(set) var items: [Item] = []
    /// Open addressing, linear probing; a slot number or -1. Kept at most
    /// half full.
    private var table: [Int32] = Array(repeating: -1, count: 16)
    /// Slot numbers in OID order (byte order of the OID text).
    private(set) var order: [Int32] = []
    /// Each slot's cell as an address (the items keep the cells alive), so
    /// `list` reaches the cells without reference counting.
    private var cellAddresses: [UInt] = []
    /// The cells, readable without this store's lock.
    let states: ItemStates
    private var seed: UInt64 { states.seed }

    init() {
        states = ItemStates(seed: UInt64.random(in: 0...UInt64.max))
    }

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
        let cell = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in ItemStates.Cell(key: k, hash: hash, status: status, value: v, owner: states) }
        }
        items.append(Item(oid: oid, key: key, hash: hash, cell: cell))
        cellAddresses.append(UInt(bitPattern: Unmanaged.passUnretained(cell).toOpaque()))
        states.insert(cell)
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

    /// The core's OID order on canonical OID bytes: by kind (unit, sensor,
    /// lvar, lmacro), then by the bytes of `group/id`.
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let ra = kindRank(a), rb = kindRank(b)
        if ra != rb { return ra < rb }
        // Same kind: same prefix length, so the paths compare as the whole.
        return a.lexicographicallyPrecedes(b)
    }

    /// The kind's place in the order, from its first bytes (`unit`,
    /// `sensor`, `lvar`, `lmacro`: canonical keys only).
    private static func kindRank(_ key: [UInt8]) -> Int {
        switch key.first {
        case UInt8(ascii: "u"): 0
        case UInt8(ascii: "s"): 1
        default: key.count > 1 && key[1] == UInt8(ascii: "v") ? 2 : 3
        }
    }

    /// Sets a slot's state (nil keeps a field). Only under the controller's
    /// `events` lock, which serialises every change of item state.
    func setState(_ slot: Int, status: Int16?, value: [UInt8]?) {
        let cell = items[slot].cell
        if let value {
            _ = value.withUnsafeBytes { cell.set(status: status, value: $0, owner: states) }
        } else {
            _ = cell.set(status: status, value: nil, owner: states)
        }
    }

    /// Writes `{oid, status, value}` of a slot (one copy). Items may change
    /// meanwhile (under the controller's `events` lock, not this store's):
    /// the cell is read as `get` reads it.
    func write(_ slot: Int, to writer: MsgPackWriter) {
        Unmanaged<ItemStates.Cell>.fromOpaque(UnsafeRawPointer(bitPattern: cellAddresses[slot])!)
            ._withUnsafeGuaranteedRef { $0.read(into: writer) }
    }
}

/// Appends bytes at a raw address the caller sized.
struct ByteSink {
    let base: UnsafeMutableRawPointer
    private(set) var count = 0

    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    mutating func append(_ byte: UInt8) {
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        (base + count).copyMemory(from: src, byteCount: bytes.count)
        count += bytes.count
    }

    /// The first `count` bytes of `word` (least significant first), with
    /// one 8-byte store: the buffer needs 8 bytes of room here.
    @inline(__always)
    mutating func appendWord(_ word: UInt64, _ count: Int) {
        base.storeBytes(of: word.littleEndian, toByteOffset: self.count, as: UInt64.self)
        self.count += count
    }

    /// The map keys of item states, as `appendWord` takes them.
    static let oidKey: (UInt64, Int) = (0x6469_6FA3, 4)  // fixstr "oid"
    static let statusKey: (UInt64, Int) = (0x0073_7574_6174_73A6, 7)  // fixstr "status"
    static let valueKey: (UInt64, Int) = (0x0065_756C_6176_A5, 6)  // fixstr "value"

    /// Bytes of the smallest str header for `n` bytes.
    static func stringHeaderCount(_ n: Int) -> Int { n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5 }

    /// A str header (smallest form), then the bytes.
    mutating func append(_ bytes: UnsafeRawBufferPointer, asString: Bool) {
        let n = bytes.count
        if n < 32 {
            append(0xA0 | UInt8(n))
        } else if n < 0x100 {
            append(0xD9)
            append(UInt8(n))
        } else if n < 0x10000 {
            append(0xDA)
            append(UInt8(n >> 8))
            append(UInt8(n & 0xFF))
        } else {
            append(0xDB)
            for s in [24, 16, 8, 0] { append(UInt8((n >> s) & 0xFF)) }
        }
        append(bytes)
    }

    /// Bytes of `appendInt(v)`.
    static func intCount(_ v: Int64) -> Int {
        switch v {
        case -32...0x7F: 1
        case Int64(Int8.min)...0xFF: 2
        case Int64(Int16.min)...0xFFFF: 3
        default: 9
        }
    }

    /// An integer in the smallest form, as libmsgpack's pack_int64 writes it.
    mutating func appendInt(_ v: Int64) {
        switch v {
        case 0...0x7F:
            append(UInt8(v))
        case -32 ..< 0:
            append(UInt8(bitPattern: Int8(v)))
        case 0x80...0xFF:
            append(0xCC)
            append(UInt8(v))
        case 0x100...0xFFFF:
            append(0xCD)
            append(UInt8(v >> 8))
            append(UInt8(v & 0xFF))
        case Int64(Int8.min) ..< -32:
            append(0xD0)
            append(UInt8(bitPattern: Int8(v)))
        case Int64(Int16.min) ..< Int64(Int8.min):
            append(0xD1)
            let u = UInt16(bitPattern: Int16(v))
            append(UInt8(u >> 8))
            append(UInt8(u & 0xFF))
        default:
            // Not needed for int16 statuses; the general form for safety.
            append(0xD3)
            let u = UInt64(bitPattern: v)
            for s in stride(from: 56, through: 0, by: -8) { append(UInt8((u >> UInt64(s)) & 0xFF)) }
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

/// An immutable map from byte strings (given as Strings, looked up by their
/// UTF-8 bytes) to values: for lookups straight from payload bytes.
struct ByteKeyTable<Value: Sendable>: Sendable {
    private let keys: [[UInt8]]
    private let values: [Value]
    private let hashes: [Int]
    /// Open addressing: an index into keys, or -1; at most half full.
    private let table: [Int32]
    private let seed = UInt64.random(in: 0...UInt64.max)

    init(_ dictionary: [String: Value]) {
        var keys: [[UInt8]] = []
        var values: [Value] = []
        for (k, v) in dictionary {
            keys.append(Array(k.utf8))
            values.append(v)
        }
        var capacity = 8
        while capacity < keys.count * 2 { capacity *= 2 }
        var table = [Int32](repeating: -1, count: capacity)
        let seed = self.seed
        let hashes = keys.map { k in k.withUnsafeBytes { ItemStore.hash($0, seed: seed) } }
        for (n, h) in hashes.enumerated() {
            var i = h & (capacity - 1)
            while table[i] >= 0 { i = (i + 1) & (capacity - 1) }
            table[i] = Int32(n)
        }
        self.keys = keys
        self.values = values
        self.hashes = hashes
        self.table = table
    }

    /// The index of `key`'s value, nil when absent.
    func find(_ key: UnsafeRawBufferPointer) -> Int? {
        let h = ItemStore.hash(key, seed: seed)
        let mask = table.count - 1
        var i = h & mask
        while true {
            let n = Int(table[i])
            if n < 0 { return nil }
            if hashes[n] == h, keys[n].withUnsafeBytes({ MsgPackScanner.equal($0, key) }) { return n }
            i = (i + 1) & mask
        }
    }

    func withValue<R>(_ index: Int, _ body: (Value) -> R) -> R { body(values[index]) }
}
