import EAPI

/// What the pull cycles remember between them (the controller's thread
/// alone touches it).
struct PullState {
    /// The next cycle publishes every mapped item: the one after a publish
    /// failed. (The first announcement of every item is the full state the
    /// controller publishes once the core is active, so a cycle publishes
    /// changes only: an item that never changes is still announced, and
    /// the core never misses a state, unlike what republishing every cycle
    /// guards against in the shipped controller.)
    var publishAll = false
    /// Per target: it is in error (its error was logged once).
    var inError: [Bool]

    init(targets: Int) { inError = Array(repeating: false, count: targets) }
}

extension ControllerCore {
    private enum Read {
        case value(MsgPackValue)
        case missing
        case notArray
        case outOfRange(Int)
    }

    /// One pull cycle: copy variables into mapped items; publish the items
    /// whose state changed (all of them when `state.publishAll`), several
    /// in one bulk `RAW` frame; with `publish` false, nothing (before the
    /// full state goes out). A target whose variable is missing, not an
    /// array (with idx) or too short gets status -1, logged once; it
    /// recovers to status 1 when the variable is fixed. `log` false: no
    /// log lines either (a provisional cycle, see `Worker.start`).
    func pullCycle(_ state: inout PullState, publish shouldPublish: Bool = true, log shouldLog: Bool = true) {
        let targets = config.pull
        guard !targets.isEmpty else { return }
        // 1. Read the variables (copies; cheap, copy-on-write).
        let reads: [Read] = vars.withLock { store in
            targets.map { target -> Read in
                guard let value = try? store.get(target.tag) else { return .missing }
                guard let idx = target.idx else { return .value(value) }
                guard case .array(let array) = value else { return .notArray }
                return idx < array.count ? .value(array[idx]) : .outOfRange(idx)
            }
        }
        // 2. Encode outside any lock.
        let encoded: [[UInt8]?] = reads.map { if case .value(let v) = $0 { v.encoded() } else { nil } }
        // 3. Apply and publish, in order with other item changes.
        let publishAll = state.publishAll && shouldPublish
        let published: Bool = events.withLock { sequence in
            sequence &+= 1
            let changes: [(key: [UInt8], status: Int16, value: [UInt8], path: String)] = items.withLock { store in
                var position: [Int: Int] = [:]
                var out: [(key: [UInt8], status: Int16, value: [UInt8], path: String)] = []
                for (n, slot) in pullSlots.enumerated() {
                    let old = store.items[slot]
                    let status: Int16
                    let value: [UInt8]
                    if let bytes = encoded[n] {
                        status = ItemStatus.ok
                        value = bytes
                    } else {
                        status = ItemStatus.error
                        value = old.value
                    }
                    let changed = old.status != status || old.value != value
                    if changed { store.setState(slot, status: status, value: value) }
                    guard changed || publishAll else { continue }
                    let entry = (key: old.key, status: status, value: value, path: old.oid.path)
                    if let at = position[slot] { out[at] = entry } else {
                        position[slot] = out.count
                        out.append(entry)
                    }
                }
                return out
            }
            if changes.isEmpty || !shouldPublish { return true }
            let writer = MsgPackWriter()
            if changes.count == 1 {
                writer.packState(status: changes[0].status, encodedValue: changes[0].value)
                return publish(topic: "RAW/\(changes[0].path)", writer.bytes)
            }
            writer.packArrayHeader(changes.count)
            for c in changes { writer.packItemState(key: c.key, status: c.status, encodedValue: c.value) }
            return publish(topic: "RAW", writer.bytes)
        }
        if shouldPublish { state.publishAll = !published }
        // 4. Log entering and leaving the error state, once each.
        guard shouldLog else { return }
        for (n, read) in reads.enumerated() {
            let target = targets[n]
            switch read {
            case .value:
                if state.inError[n] {
                    state.inError[n] = false
                    host.log(.info, "pull \(target.oid): variable \(target.variable) is back")
                }
            case .missing, .notArray, .outOfRange:
                guard !state.inError[n] else { continue }
                state.inError[n] = true
                let reason: String
                switch read {
                case .notArray: reason = "is not an array"
                case .outOfRange(let idx): reason = "has no element \(idx)"
                default: reason = "does not exist"
                }
                host.log(.error, "pull \(target.oid): variable \(target.variable) \(reason); status set to -1")
            }
        }
    }
}
