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
    @discardableResult
    func publishFullState() -> Bool {
        events.withLock { sequence in
            sequence &+= 1
            let writer = MsgPackWriter()
            let count = items.withLock { store -> Int in
                writer.packArrayHeader(store.order.count)
                for slot in store.order { store.write(Int(slot), to: writer) }
                return store.order.count
            }
            if count == 0 { return true }
            return publish(topic: "RAW", writer.bytes)
        }
    }
}

/// What `eva.core test` said.
enum CoreStatus: Equatable {
    case active
    case inactive
    /// No usable answer (the reason, for a log line).
    case unknown(String)

    init(reply: BusGate.Outcome) {
        switch reply {
        case .skipped:
            self = .unknown("not asked (stopping)")
        case .failed(let error):
            self = .unknown("\(error)")
        case .reply(let bytes):
            guard let bytes, let value = try? MsgPackValue(decoding: bytes), case .map(let map) = value,
                  let active = map["active"]?.boolValue
            else {
                self = .unknown("the reply has no \"active\" flag")
                return
            }
            self = active ? .active : .inactive
        }
    }
}
