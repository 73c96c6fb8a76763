import EAPI

extension ControllerCore {
    /// Publishes the state of every item as one bulk `RAW` frame (a list of
    /// `{oid, status, value}`), once the core is active: the core drops
    /// every RAW event until then, so this is what it learns the states
    /// from. False when the bus refused it (the caller tries again).
    ///
    /// Ordering: item state changes only under `events`, and each change
    /// publishes its own event before releasing it. The snapshot is taken
    /// and published with `events` held, so every event published before
    /// this frame carries a state at or before the snapshot, and every
    /// later change publishes after it: whatever went out while the core
    /// was inactive, this frame (or a later event) is the last word.
    ///
    /// Published through the SDK (`publishRawStates`): once per start, so
    /// decoding each stored value back costs nothing that matters. The
    /// per-change RAW events (`set`, pulls, actions) stay byte-level: they
    /// are the hot path, and each item keeps its value encoded, so those
    /// events are copies of stored bytes with no value decoded or re-encoded.
    @discardableResult
    func publishFullState() -> Bool {
        events.withLock { sequence in
            sequence &+= 1
            // State changes only under `events` (held): status and value
            // read one after the other belong together.
            let states = items.withLock { store -> [(oid: OID, state: RawState)] in
                store.order.map { slot in
                    let item = store.items[Int(slot)]
                    let value = item.value.withUnsafeBytes { (try? MsgPackValue(decodingValid: $0)) ?? .nil }
                    return (item.oid, RawState(status: item.status, value: value))
                }
            }
            do throws(EAPIError) {
                try Self.rawRetry.run { () throws(EAPIError) in
                    try host.publishRawStates(states)
                }
                return true
            } catch {
                host.log(.error, "publish to RAW failed: \(error)")
                return false
            }
        }
    }
}

/// What `eva.core test` said.
enum CoreStatus: Equatable {
    case active
    case inactive
    /// No usable answer (the reason, for a log line).
    case unknown(String)

    init(_ poll: BusGate.Outcome<Bool>) {
        switch poll {
        case .skipped: self = .unknown("not asked (stopping)")
        case .failed(let error): self = .unknown("\(error)")
        case .reply(let active): self = active ? .active : .inactive
        }
    }
}
