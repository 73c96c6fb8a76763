#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// Every item's state, found by the OID's bytes and read without a lock.
///
/// `get` is the call a node makes most, from several launcher threads at
/// once. Behind a lock (even a reader-writer one) every reader writes the
/// lock's cache line, and two cores reading pass that line back and forth on
/// each call; here a reader writes no shared memory at all:
///
/// - the hash index is an array of atomic cell addresses; an insert stores
///   into an empty slot, a resize publishes a new array;
/// - each cell keeps its item's `get` reply, `{oid, status, value}` encoded
///   (the value as it is stored, the status after it), in atomic 8-byte
///   words under a sequence number (a seqlock): the writer makes the number
///   odd, writes, makes it even; a reader copies the words and keeps the
///   copy only when the number was even and unchanged;
/// - memory a reader may still be looking at is never freed while the
///   store lives: replaced index arrays and outgrown word buffers are kept
///   (they double in size, so that is at most as much again).
///
/// Writers are serialised by the controller: cells change under its
/// `events` lock, the index under its `items` lock (`ItemStore`, which also
/// keeps every cell alive). The reply is the one copy of the state: the
/// status and the value are read back from it.
final class ItemStates: Sendable {
    /// One item: its OID and topic, and its state as the `get` reply.
    final class Cell: Sendable {
        let hash: Int
        /// The OID's bytes, then `RAW/<kind>/<path>`: one allocation of the
        /// cell, immutable, published to readers with the cell.
        private let text: UInt
        let keyCount: Int
        let topicCount: Int
        /// Bytes of the reply before its `status` key: map header, "oid", OID.
        let prefixCount: Int
        private let sequence = Atomic<UInt64>(0)
        /// An `UnsafeMutablePointer<Atomic<UInt64>>`: word 0 is the capacity
        /// in words, the reply's bytes follow.
        private let words = Atomic<UInt>(0)
        private let length = Atomic<Int>(0)
        /// Writer side (stable under the writers' lock).
        private let statusValue = Atomic<Int16>(ItemStatus.ok)
        private let valueStart = Atomic<Int>(0)

        /// The OID `kind:path` as bytes (valid); the state starts as status
        /// `status`, value `value` (encoded).
        init(key: UnsafeRawBufferPointer, hash: Int, status: Int16, value: UnsafeRawBufferPointer, owner: ItemStates) {
            self.hash = hash
            keyCount = key.count
            topicCount = key.count + 4
            prefixCount = 1 + 4 + ByteSink.stringHeaderCount(key.count) + key.count
            let raw = UnsafeMutableRawPointer.allocate(byteCount: keyCount + topicCount, alignment: 8)
            if let base = key.baseAddress { raw.copyMemory(from: base, byteCount: key.count) }
            // RAW/ + the OID with its first ':' made a '/'
            let topic = raw + keyCount
            "RAW/".utf8.enumerated().forEach { topic.storeBytes(of: $0.element, toByteOffset: $0.offset, as: UInt8.self) }
            var colonSeen = false
            for i in 0..<key.count {
                var c = key[i]
                if c == UInt8(ascii: ":"), !colonSeen {
                    c = UInt8(ascii: "/")
                    colonSeen = true
                }
                topic.storeBytes(of: c, toByteOffset: 4 + i, as: UInt8.self)
            }
            text = UInt(bitPattern: raw)
            // Not through the owner's scratch: inserts and changes run
            // under different locks.
            withUnsafeTemporaryAllocation(byteCount: replyRoom(value.count), alignment: 8) { temp in
                let count = encode(status: status, value: value, into: temp.baseAddress!)
                store(UnsafeRawBufferPointer(start: temp.baseAddress, count: count), owner: owner)
            }
            statusValue.store(status, ordering: .relaxed)
            valueStart.store(prefixCount + 7 + ByteSink.intCount(Int64(status)) + 6, ordering: .relaxed)
        }

        deinit {
            UnsafeMutableRawPointer(bitPattern: text)?.deallocate()
            if let w = Self.wordsPointer(words.load(ordering: .relaxed)) { Self.release(w) }
        }

        var key: UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: text), count: keyCount)
        }

        /// `RAW/<kind>/<path>`
        var topic: UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: text)! + keyCount, count: topicCount)
        }

        // MARK: Readers (any thread, no lock)

        /// Appends the `get` reply to `writer`. Never blocks; retries while
        /// a store is under way (a store is a few word writes).
        func read(into writer: MsgPackWriter) {
            let start = writer.count
            while true {
                let before = sequence.load(ordering: .acquiring)
                if before & 1 == 0, let w = Self.wordsPointer(words.load(ordering: .relaxed)) {
                    // A length read next to an older buffer may exceed it:
                    // bound it (the sequence check then throws the copy away).
                    let count = min(length.load(ordering: .relaxed), Int(w[0].load(ordering: .relaxed)) * 8)
                    // whole words: up to 7 bytes past `count` land in the
                    // reserved room and are not committed
                    let out = writer.reserve(count + 8)
                    var i = 1
                    var offset = 0
                    while offset < count {
                        out.storeBytes(of: w[i].load(ordering: .relaxed), toByteOffset: offset, as: UInt64.self)
                        offset += 8
                        i += 1
                    }
                    atomicMemoryFence(ordering: .acquiring)
                    if sequence.load(ordering: .relaxed) == before {
                        writer.commit(count)
                        return
                    }
                }
                writer.truncate(start)
                sched_yield()
            }
        }

        // MARK: Writers (serialised by the caller)

        var status: Int16 { statusValue.load(ordering: .relaxed) }

        /// Runs `body` with the reply as it is now (writer side: no store
        /// can run meanwhile).
        func withReply<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            let w = Self.wordsPointer(words.load(ordering: .relaxed))!
            let count = length.load(ordering: .relaxed)
            return withUnsafeTemporaryAllocation(byteCount: max(count, 1), alignment: 8) { raw in
                Self.copy(w, count: count, to: raw.baseAddress!)
                return body(UnsafeRawBufferPointer(start: raw.baseAddress, count: count))
            }
        }

        /// The value, encoded.
        var value: [UInt8] {
            let start = valueStart.load(ordering: .relaxed)
            return withReply { Array($0[start...]) }
        }

        /// Sets the status (nil keeps it) and the value (nil keeps it; the
        /// bytes are one encoded value). Returns this item's state event:
        /// the topic and `{status, value}`, in the owner's scratch memory
        /// (valid until the next change of any item).
        @discardableResult
        func set(status: Int16?, value: UnsafeRawBufferPointer?, owner: ItemStates)
            -> (topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)
        {
            guard let value else {
                // Keep the value: from the current reply.
                let start = valueStart.load(ordering: .relaxed)
                return withReply { old in
                    set(status: status, value: UnsafeRawBufferPointer(rebasing: old[start...]), owner: owner)
                }
            }
            let newStatus = status ?? statusValue.load(ordering: .relaxed)
            // The reply, then the event (topic, 0x82, the reply from "status" on).
            let room = replyRoom(value.count)
            let raw = owner.scratch(room + topicCount + 1 + room)
            let replyCount = encode(status: newStatus, value: value, into: raw)
            let reply = UnsafeRawBufferPointer(start: raw, count: replyCount)
            store(reply, owner: owner)
            statusValue.store(newStatus, ordering: .relaxed)
            valueStart.store(replyCount - value.count, ordering: .relaxed)
            var out = ByteSink(raw + replyCount)
            out.append(topic)
            out.append(0x82)
            out.append(UnsafeRawBufferPointer(rebasing: reply[prefixCount...]))
            return (UnsafeRawBufferPointer(start: raw + replyCount, count: topicCount),
                    UnsafeRawBufferPointer(start: raw + replyCount + topicCount, count: out.count - topicCount))
        }

        /// The most the reply takes with a value of `count` bytes (and 8
        /// bytes of room for `ByteSink.appendWord`).
        private func replyRoom(_ count: Int) -> Int { prefixCount + 7 + 3 + 6 + count + 8 }

        /// `{oid, status, value}` at `raw`; returns its size.
        private func encode(status: Int16, value: UnsafeRawBufferPointer, into raw: UnsafeMutableRawPointer) -> Int {
            var out = ByteSink(raw)
            out.append(0x83)
            out.appendWord(ByteSink.oidKey.0, ByteSink.oidKey.1)
            out.append(key, asString: true)
            out.appendWord(ByteSink.statusKey.0, ByteSink.statusKey.1)
            out.appendInt(Int64(status))
            out.appendWord(ByteSink.valueKey.0, ByteSink.valueKey.1)
            out.append(value)
            return out.count
        }

        /// Calls `event` with the topic and `{status, value}` as they are.
        func withEvent<R>(_ event: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R) -> R {
            withReply { reply in
                withUnsafeTemporaryAllocation(byteCount: reply.count - prefixCount + 1, alignment: 8) { raw in
                    var out = ByteSink(raw.baseAddress!)
                    out.append(0x82)
                    out.append(UnsafeRawBufferPointer(rebasing: reply[prefixCount...]))
                    return event(topic, UnsafeRawBufferPointer(start: raw.baseAddress, count: out.count))
                }
            }
        }

        // MARK: The words

        private static func wordsPointer(_ bits: UInt) -> UnsafeMutablePointer<Atomic<UInt64>>? {
            UnsafeMutablePointer(bitPattern: bits)
        }

        private static func allocate(capacity: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
            let p = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: capacity + 1)
            p.initialize(to: Atomic(UInt64(capacity)))
            for i in 1...capacity { (p + i).initialize(to: Atomic(0)) }
            return p
        }

        fileprivate static func release(_ p: UnsafeMutablePointer<Atomic<UInt64>>) {
            let capacity = Int(p[0].load(ordering: .relaxed))
            p.deinitialize(count: capacity + 1)
            p.deallocate()
        }

        /// `count` bytes of the words (relaxed loads) to `out`.
        @inline(__always)
        private static func copy(_ w: UnsafeMutablePointer<Atomic<UInt64>>, count: Int, to out: UnsafeMutableRawPointer) {
            var offset = 0
            var i = 1
            while count - offset >= 8 {
                out.storeBytes(of: w[i].load(ordering: .relaxed), toByteOffset: offset, as: UInt64.self)
                offset += 8
                i += 1
            }
            if offset < count {
                var rest = w[i].load(ordering: .relaxed)
                while offset < count {
                    out.storeBytes(of: UInt8(truncatingIfNeeded: rest), toByteOffset: offset, as: UInt8.self)
                    rest >>= 8
                    offset += 1
                }
            }
        }

        /// Replaces the reply. A buffer that is too small is replaced and
        /// the old one handed to the owner (kept until it goes).
        private func store(_ bytes: UnsafeRawBufferPointer, owner: ItemStates) {
            let needed = (bytes.count + 7) / 8
            var w = Self.wordsPointer(words.load(ordering: .relaxed))
            let capacity = w.map { Int($0[0].load(ordering: .relaxed)) } ?? 0
            let s = sequence.load(ordering: .relaxed)
            sequence.store(s &+ 1, ordering: .relaxed)
            atomicMemoryFence(ordering: .releasing)
            if needed > capacity {
                var grown = max(capacity * 2, 4)
                while grown < needed { grown *= 2 }
                let fresh = Self.allocate(capacity: grown)
                if let old = w { owner.retire(UInt(bitPattern: old)) }
                w = fresh
                words.store(UInt(bitPattern: fresh), ordering: .relaxed)
            }
            let p = w!
            var offset = 0
            var i = 1
            while bytes.count - offset >= 8 {
                p[i].store(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self), ordering: .relaxed)
                offset += 8
                i += 1
            }
            if offset < bytes.count {
                var word: UInt64 = 0
                for k in 0..<(bytes.count - offset) { word |= UInt64(bytes[offset + k]) << (8 * UInt64(k)) }
                p[i].store(word, ordering: .relaxed)
            }
            length.store(bytes.count, ordering: .relaxed)
            sequence.store(s &+ 2, ordering: .releasing)
        }
    }

    /// The index: word 0 is the capacity (a power of two), then the slots,
    /// each a cell's address or 0. Linear probing, at most half full.
    private let table = Atomic<UInt>(0)
    private let tableCount = Atomic<Int>(0)
    /// Replaced index arrays (tagged with bit 0) and word buffers, freed
    /// with the store.
    private let retired = Guarded<[UInt]>([])
    /// The hash seed (per store, so colliding OIDs cannot be precomputed).
    let seed: UInt64
    /// Writers' scratch memory (an address and its size), where a change
    /// encodes the reply and the event: writers are serialised, so one is
    /// enough, and no change allocates once it has grown.
    private let scratchAddress = Atomic<UInt>(0)
    private let scratchCount = Atomic<Int>(0)

    init(seed: UInt64) {
        self.seed = seed
        table.store(UInt(bitPattern: Self.makeTable(capacity: 16)), ordering: .releasing)
    }

    deinit {
        if let t = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: table.load(ordering: .relaxed)) {
            Self.freeTable(t)
        }
        UnsafeMutableRawPointer(bitPattern: scratchAddress.load(ordering: .relaxed))?.deallocate()
        retired.withLock { list in
            for bits in list {
                if bits & 1 == 1 {
                    if let t = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: bits & ~1) { Self.freeTable(t) }
                } else if let w = UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: bits) {
                    Cell.release(w)
                }
            }
        }
    }

    private static func makeTable(capacity: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        let t = UnsafeMutablePointer<Atomic<UInt>>.allocate(capacity: capacity + 1)
        t.initialize(to: Atomic(UInt(capacity)))
        for i in 1...capacity { (t + i).initialize(to: Atomic(0)) }
        return t
    }

    private static func freeTable(_ t: UnsafeMutablePointer<Atomic<UInt>>) {
        let capacity = Int(t[0].load(ordering: .relaxed))
        t.deinitialize(count: capacity + 1)
        t.deallocate()
    }

    /// The hash of an OID's bytes.
    func hash(_ key: UnsafeRawBufferPointer) -> Int { ItemStore.hash(key, seed: seed) }

    /// Runs `body` with the cell of `key` (borrowed: no reference count
    /// changes), or returns nil when there is none.
    @inline(__always)
    func withCell<R>(_ key: UnsafeRawBufferPointer, hash: Int, _ body: (Cell) -> R) -> R? {
        let t = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: table.load(ordering: .acquiring))!
        let mask = Int(t[0].load(ordering: .relaxed)) - 1
        var i = hash & mask
        while true {
            let bits = t[1 + i].load(ordering: .acquiring)
            guard let raw = UnsafeRawPointer(bitPattern: bits) else { return nil }
            let cell = Unmanaged<Cell>.fromOpaque(raw)
            let match = cell._withUnsafeGuaranteedRef { c in
                c.hash == hash && c.keyCount == key.count
                    && (key.count == 0 || memcmp(c.key.baseAddress!, key.baseAddress!, key.count) == 0)
            }
            if match { return cell._withUnsafeGuaranteedRef(body) }
            i = (i + 1) & mask
        }
    }

    /// Adds a cell whose key is not in the index yet. The caller keeps the
    /// cell alive as long as this store, and serialises inserts.
    func insert(_ cell: Cell) {
        var t = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: table.load(ordering: .relaxed))!
        let count = tableCount.load(ordering: .relaxed) + 1
        var capacity = Int(t[0].load(ordering: .relaxed))
        if count * 2 > capacity {
            // A bigger array with every cell, published whole; the old one
            // stays readable for readers that still probe it.
            let old = t
            let oldCapacity = capacity
            capacity *= 2
            t = Self.makeTable(capacity: capacity)
            for i in 0..<oldCapacity {
                let bits = old[1 + i].load(ordering: .relaxed)
                if bits != 0 {
                    let h = Unmanaged<Cell>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)
                        ._withUnsafeGuaranteedRef { $0.hash }
                    Self.place(bits, hash: h, in: t, capacity: capacity)
                }
            }
            table.store(UInt(bitPattern: t), ordering: .releasing)
            retired.withLock { $0.append(UInt(bitPattern: old) | 1) }
        }
        Self.place(UInt(bitPattern: Unmanaged.passUnretained(cell).toOpaque()), hash: cell.hash, in: t,
                   capacity: capacity)
        tableCount.store(count, ordering: .relaxed)
    }

    private static func place(_ bits: UInt, hash: Int, in t: UnsafeMutablePointer<Atomic<UInt>>, capacity: Int) {
        let mask = capacity - 1
        var i = hash & mask
        while t[1 + i].load(ordering: .relaxed) != 0 { i = (i + 1) & mask }
        t[1 + i].store(bits, ordering: .releasing)
    }

    /// At least `count` bytes of scratch memory (writers only).
    fileprivate func scratch(_ count: Int) -> UnsafeMutableRawPointer {
        if let p = UnsafeMutableRawPointer(bitPattern: scratchAddress.load(ordering: .relaxed)),
           scratchCount.load(ordering: .relaxed) >= count {
            return p
        }
        UnsafeMutableRawPointer(bitPattern: scratchAddress.load(ordering: .relaxed))?.deallocate()
        var size = max(scratchCount.load(ordering: .relaxed), 256)
        while size < count { size *= 2 }
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        scratchAddress.store(UInt(bitPattern: p), ordering: .relaxed)
        scratchCount.store(size, ordering: .relaxed)
        return p
    }

    /// A word buffer a cell outgrew: freed with the store.
    fileprivate func retire(_ bits: UInt) {
        retired.withLock { $0.append(bits) }
    }
}
