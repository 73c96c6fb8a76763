#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// The controller's state and everything that works on it: items,
/// variables, events, the pull cycle, persistence, bound frames.
///
/// Locking (pthread mutexes, see `Guarded`): `items` and `vars` never nest;
/// the only nesting is `events` → `items`, so no lock order can deadlock.
/// Critical sections copy or write bytes only; MessagePack encoding of
/// variable values and every host call happen outside them. The one
/// exception is `events`: whoever changes item state holds it from the
/// change until its event is published, so that events leave in the order
/// the changes were made (the last event of an item always matches its
/// state). Item state itself lives in `states` (see `ItemStates`): changed
/// under `events` alone, read without any lock; `items` guards the index
/// (inserts, OID order). Readers (`get`, `list`, `var.get`) never take
/// `events`; `get` takes no lock at all.
final class ControllerCore: Sendable {
    let host: any ServiceHost
    let config: ControllerConfig
    let registryKey: String
    let items: Guarded<ItemStore>
    /// The items' state, read by `get` without a lock (see `ItemStates`);
    /// changed under `events` only.
    let states: ItemStates
    let vars: Guarded<VarStore>
    /// Held from an item change until its event is out; counts the events
    /// (a payload of its own: TSan mistakes accesses to an empty one).
    let events = Guarded<UInt64>(0)
    /// `config.bind` by the bytes of the item path (`kind/group/id`).
    let bindIndex: ByteKeyTable<[PLCTag]>
    /// Item slots of `config.pull`, index for index.
    let pullSlots: [Int]
    /// Every configured item: `items`, pull targets, configured units.
    var configuredOIDs: [OID] { configured.withLock { $0 } }
    private let configured: Guarded<[OID]>
    /// The registry and the journal (see `VariablePersistence`).
    let persistence: VariablePersistence

    init(config: ControllerConfig, serviceID: String, host: any ServiceHost, dataPath: String = "") {
        self.host = host
        self.config = config
        registryKey = "eva/svc_data/\(serviceID)/vars"
        bindIndex = ByteKeyTable(config.bind)
        var store = ItemStore()
        let oids = config.configuredOIDs
        for oid in oids { _ = store.insert(oid) }
        pullSlots = config.pull.map { store.find($0.oid)! }
        configured = Guarded(oids)
        states = store.states
        items = Guarded(store)
        var seeded = VarStore()
        seeded.replaceAll(config.seedVars)
        vars = Guarded(seeded)
        persistence = VariablePersistence(host: host, vars: vars, registryKey: registryKey, dataPath: dataPath,
                                          seeds: config.seedVars)
    }

    // MARK: Items

    /// As the `set` method: nil keeps a field, `.some(.nil)` sets value nil;
    /// an unknown OID is created (status 1 unless given) when `auto_create`
    /// is on, else NOT_FOUND.
    func setItem(_ oid: OID, status: Int16?, value: MsgPackValue?) throws(EAPIError) {
        let encoded = value.map { $0.encoded() }
        try changeItem(oid, create: config.autoCreate) { store, slot in
            store.setState(slot, status: status, value: encoded)
        }
    }

    /// `set` with fields read from the payload's bytes: the OID's bytes
    /// (valid), the value encoded as it came. The same as `setItem(_:...)`
    /// without a String, an OID or a MsgPackValue on the way, and without
    /// the `items` lock unless the item is new.
    func setItem(key: UnsafeRawBufferPointer, status: Int16?, valueBytes: UnsafeRawBufferPointer?) throws(EAPIError) {
        let hash = states.hash(key)
        try events.withLock { sequence throws(EAPIError) in
            sequence &+= 1
            let states = self.states
            if let event = states.withCell(key, hash: hash, { $0.set(status: status, value: valueBytes, owner: states) }) {
                _ = publish(topicBytes: event.topic, event.payload)
                return
            }
            guard config.autoCreate else { throw .notFound("item \(String(decoding: key, as: UTF8.self))") }
            let cell = items.withLock { store in
                store.items[store.findOrInsert(OID(String(decoding: key, as: UTF8.self))!)].cell
            }
            let event = cell.set(status: status, value: valueBytes, owner: states)
            _ = publish(topicBytes: event.topic, event.payload)
        }
    }

    /// Applies a change to one item and publishes its `RAW/<path>` event.
    private func changeItem(_ oid: OID, create: Bool,
                            _ change: (borrowing ItemStore, Int) -> Void) throws(EAPIError) {
        try events.withLock { sequence throws(EAPIError) in
            sequence &+= 1
            let cell = try items.withLock { store throws(EAPIError) -> ItemStates.Cell in
                let slot: Int
                if let found = store.find(oid) {
                    slot = found
                } else if create {
                    slot = store.insert(oid)
                } else {
                    throw .notFound("item \(oid)")
                }
                change(store, slot)
                return store.items[slot].cell
            }
            cell.withEvent { topic, payload in _ = publish(topicBytes: topic, payload) }
        }
    }

    /// Sets the state of an item, creating it when missing (a completed
    /// unit action: the unit was checked when the action was accepted).
    func forceItemState(_ oid: OID, status: Int16, value: MsgPackValue) {
        let encoded = value.encoded()
        try? changeItem(oid, create: true) { store, slot in
            store.setState(slot, status: status, value: encoded)
        }
    }

    /// Creates the units the action engine was configured with (at init).
    func addConfiguredUnits(_ units: [OID]) {
        let added = items.withLock { store in
            units.filter { oid in
                guard store.find(oid) == nil else { return false }
                _ = store.insert(oid)
                return true
            }
        }
        configured.withLock { $0 += added }
    }

    func itemExists(_ oid: OID) -> Bool { items.withLock { $0.find(oid) != nil } }

    /// Creates a unit with status 1, value nil (no event: its first action
    /// publishes its state).
    func createItem(_ oid: OID) { items.withLock { _ = $0.findOrInsert(oid) } }

    /// Fail mode with react_to_fail: every configured item gets status -1.
    func markConfiguredFailed() {
        for oid in configuredOIDs {
            try? changeItem(oid, create: true) { store, slot in
                store.setState(slot, status: ItemStatus.error, value: nil)
            }
        }
    }

    // MARK: Publishing

    /// How RAW events are retried while the launcher's queue is full: a
    /// few short pauses (0.4 ms doubling, about 12 ms in all), since the
    /// publisher holds `events` meanwhile; then the event is dropped (logged).
    static let rawRetry = BusyRetry(initialPause: 0.0004, maxPause: 0.0064, giveUpAfter: 0.0125)

    /// Publishes with the SDK's BUSY retry (`rawRetry`). Returns false
    /// (after logging) when the event could not go out.
    @discardableResult
    func publish(topic: String, _ payload: UnsafeRawBufferPointer) -> Bool {
        do throws(EAPIError) {
            try Self.rawRetry.run { () throws(EAPIError) in try host.publish(topic: topic, payload: payload) }
            return true
        } catch {
            host.log(.error, "publish to \(topic) failed: \(error)")
            return false
        }
    }

    /// `publish(topic:_:)` with the topic as bytes (the per-change RAW
    /// events: topics kept encoded, no String made).
    @discardableResult
    func publish(topicBytes: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Bool {
        do throws(EAPIError) {
            try Self.rawRetry.run { () throws(EAPIError) in try host.publish(topicBytes: topicBytes, payload: payload) }
            return true
        } catch {
            host.log(.error, "publish to \(String(decoding: topicBytes, as: UTF8.self)) failed: \(error)")
            return false
        }
    }

    // MARK: Variables

    func setVariable(_ tag: PLCTag, _ value: MsgPackValue) throws(EAPIError) {
        try vars.withLock { store throws(EAPIError) in try store.set(tag, value) }
    }

    func setVariable(tag text: String, _ value: MsgPackValue) throws(EAPIError) {
        try setVariable(try PLCTag(parsing: text), value)
    }

    /// A completed unit action: the unit's state, then its `action_map`
    /// variable.
    func completeUnitAction(_ oid: OID, status: Int16, value: MsgPackValue) {
        forceItemState(oid, status: status, value: value)
        if let tag = config.actionMap[oid] {
            do { try setVariable(tag, value) } catch {
                host.log(.error, "action_map \(oid) → \(tag): \(error)")
            }
        }
    }

    // MARK: Bound frames

    static let stateTopicPrefixes: [[UInt8]] = [Array("ST/LOC/".utf8), Array("ST/REM/".utf8)]
    static let iKey = ShortKey("i")
    static let statusKey = ShortKey("status")
    static let valueKey = ShortKey("value")

    /// `ST/LOC/` or `ST/REM/` (the topic has more than 7 bytes).
    @inline(__always)
    static func isStateTopic(_ topic: UnsafeRawBufferPointer) -> Bool {
        var w: UInt64 = 0
        for i in 0..<7 { w = w << 8 | UInt64(topic[i]) }
        return w == 0x53_542F_4C4F_432F || w == 0x53_542F_5245_4D2F  // "ST/LOC/", "ST/REM/"
    }

    /// The topics `bind` needs.
    var bindTopics: [String] {
        config.boundOIDs.flatMap { ["ST/LOC/\($0.path)", "ST/REM/\($0.path)"] }
    }

    /// A state frame of a bound item sets each variable bound to it.
    func handleStateFrame(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        guard !config.bind.isEmpty, topic.count > 7 else { return }
        // The usual frame, {status, value, ...}, read from its bytes (the
        // general path below answers anything else, the same way).
        if let slot = bindIndex.find(UnsafeRawBufferPointer(rebasing: topic[7...])),
           Self.isStateTopic(topic),
           let fields = MapFields(payload, Self.statusKey, Self.valueKey),
           let statusBytes = fields.first, let status = MapFields.int(statusBytes),
           status >= Int64(Int16.min), status <= Int64(Int16.max),
           let valueBytes = fields.second,
           let value = try? MsgPackValue(decodingValid: valueBytes) {
            let failures: [(PLCTag, EAPIError)] = vars.withLock { store in
                var failures: [(PLCTag, EAPIError)] = []
                bindIndex.withValue(slot) { tags in
                    for tag in tags {
                        do throws(EAPIError) { try store.set(tag, value) } catch { failures.append((tag, error)) }
                    }
                }
                return failures
            }
            if !failures.isEmpty {
                let topicText = String(decoding: topic, as: UTF8.self)
                for (tag, error) in failures { host.log(.warn, "bind \(tag) ← \(topicText): \(error)") }
            }
            return
        }
        let prefix = UnsafeRawBufferPointer(rebasing: topic[0..<7])
        guard Self.stateTopicPrefixes.contains(where: { p in p.withUnsafeBytes { MsgPackScanner.equal($0, prefix) } })
        else { return }
        let path = String(decoding: UnsafeRawBufferPointer(rebasing: topic[7...]), as: UTF8.self)
        guard let tags = config.bind[path] else { return }
        let topicText = String(decoding: topic, as: UTF8.self)
        let state: MsgPackValue
        do { state = try Params.decode(payload) } catch {
            host.log(.warn, "\(topicText): payload is not MessagePack, ignored")
            return
        }
        guard case .map(let map) = state, let status = map["status"]?.int64Value,
              status >= Int64(Int16.min), status <= Int64(Int16.max)
        else {
            host.log(.warn, "\(topicText): payload is not a state map, ignored")
            return
        }
        guard let value = map["value"] else {
            host.log(.debug, "\(topicText): state without a value, variables unchanged")
            return
        }
        var failures: [(PLCTag, EAPIError)] = []
        vars.withLock { store in
            for tag in tags {
                do throws(EAPIError) { try store.set(tag, value) } catch { failures.append((tag, error)) }
            }
        }
        for (tag, error) in failures { host.log(.warn, "bind \(tag) ← \(topicText): \(error)") }
    }
}
