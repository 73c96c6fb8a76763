#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// Where the variables survive a restart: the node registry, shared with
/// the shipped controller (key `eva/svc_data/<id>/vars`, a map name →
/// value), plus two files in the service's own folder (`data_path`):
/// - the journal (`vars.journal`): the variables as this service last had
///   them, written at every write-through and at `svc_terminate` (file I/O
///   only, so even a stop on a one-thread launcher, which cannot reach the
///   registry, loses nothing);
/// - the base (`vars.registry-base`): the variables as this service last
///   wrote them to the registry (or found them there at start), written
///   after each registry write.
/// At start the three versions are compared per variable (see
/// `VariableMerge`): where the registry differs from the base, another
/// writer changed it and the registry wins; elsewhere the journal does.
/// So nothing set before a clean stop is lost, nor anything another writer
/// (the shipped controller after a switch, an operator, a restore) put in
/// the registry meanwhile. A damaged journal or base is logged and ignored,
/// never fatal; both are written atomically (see `JournalFile`).
///
/// Writes: every `persist_interval`, from the controller's thread, journal
/// then registry then base; at `svc_terminate` the journal (and a pending
/// base), and with `workers` >= 2 the registry too (see `Worker.finish`).
final class VariablePersistence: Sendable {
    struct State {
        /// The last sequence number given to a snapshot.
        var sequence: UInt64 = 0
        /// The variables' generation the journal holds (nil: none yet).
        var journaledGeneration: UInt64?
        /// The generation the registry holds (nil: unknown or stale: write).
        var registryGeneration: UInt64?
        /// The registry's content as read at start, to become the base once
        /// the journal holds what the start chose (nil: the base is current).
        var pendingBase: [UInt8]?
        /// A journal file exists (read at the load, or written since): a
        /// base is only written next to one.
        var journalExists = false
        /// The journal failed last time (logged once per failing streak).
        var journalFailing = false
        /// `svc_terminate` wrote its last snapshot: no more writes.
        var closed = false
        /// The load left the registry behind: write it right away rather
        /// than at the next write-through.
        var catchUp = false
    }

    struct Snapshot {
        let generation: UInt64
        /// The sequence number of this snapshot (nil: no journal).
        let sequence: UInt64?
        /// The map name → value, encoded.
        let bytes: [UInt8]
    }

    let host: any ServiceHost
    let vars: Guarded<VarStore>
    let registryKey: String
    /// `config.vars`: created at the load where the persisted state lacks them.
    let seeds: [String: MsgPackValue]
    /// nil when the service has no folder (`data_path` "": user nobody).
    let journal: JournalFile?
    let base: JournalFile?
    let dataPath: String
    private let state = Guarded(State())
    private let loadedFlag = Atomic<Bool>(false)
    private let abandonedFlag = Atomic<Bool>(false)
    private let loadedSignal = Condition()

    static let journalName = "vars.journal"
    static let baseName = "vars.registry-base"

    init(host: any ServiceHost, vars: Guarded<VarStore>, registryKey: String, dataPath: String,
         seeds: [String: MsgPackValue] = [:]) {
        self.host = host
        self.vars = vars
        self.registryKey = registryKey
        self.dataPath = dataPath
        self.seeds = seeds
        if dataPath.isEmpty {
            journal = nil
            base = nil
        } else {
            let folder = dataPath.hasSuffix("/") ? String(dataPath.dropLast()) : dataPath
            journal = JournalFile(path: "\(folder)/\(Self.journalName)", magic: "EVAVCJ01")
            base = JournalFile(path: "\(folder)/\(Self.baseName)", magic: "EVAVCB01")
        }
    }

    var isLoaded: Bool { loadedFlag.load(ordering: .sequentiallyConsistent) }

    /// `svc_terminate` wrote the last snapshot (`close`): no more writes.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Waits until the variables are loaded, `deadline` (MonotonicClock)
    /// passes or the load is given up; true when loaded.
    func waitLoaded(until deadline: UInt64) -> Bool {
        if isLoaded { return true }
        loadedSignal.lock()
        defer { loadedSignal.unlock() }
        while !isLoaded {
            if abandonedFlag.load(ordering: .sequentiallyConsistent) || MonotonicClock.now() >= deadline { return false }
            loadedSignal.wait(untilNanoseconds: deadline)
        }
        return true
    }

    /// The controller's thread ends without loading (the service stops
    /// first): callers waiting for the load answer at once, not at their
    /// deadline. No effect once loaded.
    func abandonLoad() {
        loadedSignal.withLock {
            abandonedFlag.store(true, ordering: .sequentiallyConsistent)
            loadedSignal.broadcast()
        }
    }

    // MARK: Loading

    /// Names that are not plain variable names are skipped with a warning.
    private func variables(_ value: MsgPackValue, from source: String) -> [String: MsgPackValue]? {
        guard case .map(let map) = value else {
            host.log(.warn, "persisted variables in \(source) are not a map; ignored")
            return nil
        }
        var out: [String: MsgPackValue] = [:]
        out.reserveCapacity(map.count)
        for entry in map.entries {
            guard case .string(let name) = entry.key, PLCTag.isName(name) else {
                host.log(.warn, "persisted variables: skipped a bad name \(ControllerConfig.describe(entry.key)) in \(source)")
                continue
            }
            out[name] = entry.value
        }
        return out
    }

    /// The journal's or the base's record: nil when missing or damaged
    /// (logged with `level`).
    private func read(_ file: JournalFile?, _ what: String, damaged level: LogLevel)
        -> (sequence: UInt64, vars: [String: MsgPackValue])? {
        guard let file else { return nil }
        switch file.read() {
        case .missing:
            return nil
        case .damaged(let why):
            host.log(level, "\(what) \(file.path) is damaged (\(why)); ignored")
            return nil
        case .record(let sequence, let payload):
            guard let value = try? MsgPackValue(decoding: payload) else {
                host.log(level, "\(what) \(file.path) does not decode; ignored")
                return nil
            }
            guard let vars = variables(value, from: file.path) else { return nil }
            return (sequence, vars)
        }
    }

    /// Loads the variables (from the controller's thread, after launch).
    /// False when skipped because the controller is stopping (nothing
    /// loaded: nothing will be written either).
    func load(bus: BusGate) -> Bool {
        if isLoaded { return true }
        let fromJournal = read(journal, "journal", damaged: .error)
        let fromBase = read(base, "registry base", damaged: .warn)
        let outcome = bus.call(target: "eva.registry", method: "key_get",
                               params: MsgPackValue.map(["key": .string(registryKey)]).encoded())
        // Stopping meanwhile: `svc_terminate` may have returned (it does
        // not wait for this call on a one-thread launcher); no op calls now.
        if bus.isStopping { return false }
        var registry: [String: MsgPackValue]?  // nil: unreadable or unusable
        switch outcome {
        case .skipped:
            return false
        case .reply(let bytes):
            if let bytes, let value = try? MsgPackValue(decoding: bytes) {
                registry = variables(value, from: registryKey)
                if registry == nil {
                    host.log(.warn, "persisted variables at \(registryKey) are not usable; using "
                        + (fromJournal == nil ? "the configured ones" : "the journal"))
                }
            } else {
                host.log(.warn, "the registry answered \(registryKey) with no value; taken as none")
                registry = [:]
            }
        case .failed(let error):
            if error.code == .notFound {
                registry = [:]
            } else {
                host.log(.error, "cannot read variables from \(registryKey): \(error); using "
                    + (fromJournal == nil ? "the configured ones" : "the journal"))
            }
        }
        if registry != nil, fromJournal != nil, fromBase == nil {
            host.log(.warn, "no registry base next to the journal: another writer's changes cannot be told "
                + "from ours; the journal wins, the registry adds the variables only it has")
        }
        let merge = VariableMerge(registry: registry, journal: fromJournal?.vars, base: fromBase?.vars,
                                  config: seeds)
        let (generation, failed) = vars.withLock { $0.load(merge.values) }
        let pendingBase: [UInt8]? = {
            guard journal != nil, let registry else { return nil }
            if let fromBase, VariableMerge.sameStored(fromBase.vars, registry) { return nil }
            return encode(registry)
        }()
        state.withLock { s in
            s.sequence = max(fromJournal?.sequence ?? 0, fromBase?.sequence ?? 0)
            // An unreadable registry is not overwritten until something changes.
            let registryCurrent = registry.map { VariableMerge.sameStored($0, merge.values) } ?? true
            // No journal where the registry holds everything: none is needed
            // until something changes (a missing journal means "the registry").
            let journalCurrent = fromJournal.map { $0.vars == merge.values } ?? (registry != nil && registryCurrent)
            s.journaledGeneration = journalCurrent ? generation : nil
            s.journalExists = fromJournal != nil
            s.registryGeneration = registryCurrent ? generation : nil
            s.pendingBase = pendingBase
            // A registry behind the start's choice is written right after
            // the load (by then `var.*` no longer wait). The journal and the
            // base follow at the next write-through or the stop: until
            // then the same three files give the same choice again.
            s.catchUp = !registryCurrent
        }
        for (tag, error) in failed {
            host.log(.warn, "a write made before the load (\(tag)) does not fit the loaded variables: \(error)")
        }
        var line = "loaded \(merge.values.count) variable(s): \(merge.fromJournal) from the journal, "
            + "\(merge.fromRegistry) from the registry, \(merge.fromConfig) from the config"
        if merge.deletedElsewhere > 0 { line += "; \(merge.deletedElsewhere) deleted in the registry by another writer" }
        if registry == nil { line += " (the registry could not be read)" }
        host.log(.info, line)
        loadedSignal.withLock {
            loadedFlag.store(true, ordering: .sequentiallyConsistent)
            loadedSignal.broadcast()
        }
        return true
    }

    // MARK: Writing

    private func encode(_ values: [String: MsgPackValue]) -> [UInt8] {
        let names = values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let writer = MsgPackWriter()
        writer.packMapHeader(names.count)
        for name in names {
            writer.packString(name)
            writer.pack(values[name]!)
        }
        return writer.toArray()
    }

    /// Takes a snapshot and journals it when it changed since the last
    /// journal write; then writes a pending base once the journal is
    /// current. nil once closed or before the load.
    private func journalStep(_ s: inout State) -> Snapshot? {
        guard !s.closed, isLoaded else { return nil }
        // Nothing behind: no encoding either.
        let current = vars.withLock { $0.generation }
        if s.registryGeneration == current,
           journal == nil || (s.journaledGeneration == current && (s.pendingBase == nil || !s.journalExists)) {
            return nil
        }
        // Encoded under the variables' lock: a copy of the map read outside
        // it while `set` replaces its storage was reported by TSan (the
        // release of the shared storage is in the uninstrumented runtime);
        // an encode costs microseconds and runs once per persist_interval.
        let (bytes, generation) = vars.withLock { (encode($0.values), $0.generation) }
        guard let journal else { return Snapshot(generation: generation, sequence: nil, bytes: bytes) }
        if s.journaledGeneration != generation {
            s.sequence &+= 1
            do throws(JournalError) {
                try ensureFolder()
                try write(journal, sequence: s.sequence, bytes)
                s.journaledGeneration = generation
                s.journalExists = true
                if s.journalFailing {
                    s.journalFailing = false
                    host.log(.info, "journal \(journal.path) written again")
                }
            } catch {
                if !s.journalFailing {
                    s.journalFailing = true
                    host.log(.error, "cannot write the journal: \(error)")
                }
            }
        }
        // The journal holds the start's choice (or later): what the registry
        // holds can become the base now, not before (a base ahead of the
        // journal would let an old journal beat another writer's change).
        if s.journaledGeneration == generation, s.journalExists, let pending = s.pendingBase {
            writeBase(pending, &s)
        }
        return Snapshot(generation: generation, sequence: s.sequence, bytes: bytes)
    }

    private func write(_ file: JournalFile, sequence: UInt64, _ bytes: [UInt8]) throws(JournalError) {
        try bytes.withUnsafeBytes { b in
            Result { () throws(JournalError) in try file.write(sequence: sequence, payload: b) }
        }.get()
    }

    /// Writes the base (state locked); on failure it stays pending.
    private func writeBase(_ bytes: [UInt8], _ s: inout State) {
        guard let base else { return }
        do throws(JournalError) {
            try write(base, sequence: s.sequence, bytes)
            s.pendingBase = nil
        } catch {
            s.pendingBase = bytes
            host.log(.warn, "cannot write the registry base: \(error)")
        }
    }

    private func ensureFolder() throws(JournalError) {
        if mkdir(dataPath, 0o700) != 0, errno != EEXIST {
            throw JournalError("cannot create \(dataPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the load asked for the registry to be written at once
    /// (once: the flag is cleared).
    func takeCatchUp() -> Bool {
        state.withLock { s in
            defer { s.catchUp = false }
            return s.catchUp
        }
    }

    /// One write-through (the controller's thread): the journal, then the
    /// registry when it is behind, then the base. False when the registry
    /// write failed or was skipped (stopping).
    @discardableResult
    func writeThrough(bus: BusGate) -> Bool {
        writeThrough(call: { bus.call(target: $0, method: $1, params: $2) })
    }

    /// `writeThrough(bus:)` with the registry call made by `call`.
    func writeThrough(call: (String, String, [UInt8]?) -> BusGate.Outcome<[UInt8]?>) -> Bool {
        guard let snapshot = state.withLock({ journalStep(&$0) }) else { return true }
        guard state.withLock({ $0.registryGeneration != snapshot.generation }) else { return true }
        let writer = MsgPackWriter()
        writer.packMapHeader(2)
        writer.packString("key")
        writer.packString(registryKey)
        writer.packString("value")
        snapshot.bytes.withUnsafeBytes { writer.packRaw($0) }
        switch call("eva.registry", "key_set", writer.toArray()) {
        case .skipped:
            return false
        case .failed(let error):
            if !state.withLock({ $0.closed }) { host.log(.error, "cannot persist variables to \(registryKey): \(error)") }
            return false
        case .reply:
            let closed = state.withLock { s -> Bool in
                if s.registryGeneration.map({ $0 < snapshot.generation }) ?? true {
                    s.registryGeneration = snapshot.generation
                }
                // Past `svc_terminate` (a call it did not wait for): no
                // file I/O now; the journal it wrote holds this snapshot.
                guard !s.closed else { return true }
                if base != nil {
                    if s.journalExists, s.journaledGeneration.map({ $0 >= snapshot.generation }) ?? false {
                        writeBase(snapshot.bytes, &s)
                    } else {
                        // The journal is behind (failing): the base waits for it.
                        s.pendingBase = snapshot.bytes
                    }
                }
                return false
            }
            if !closed { host.log(.debug, "persisted the variables to \(registryKey)") }
            return true
        }
    }

    /// At `svc_terminate`: the last journal write (and a pending base; file
    /// I/O only, never a bus call), then no more writes. Returns whether
    /// something set since the last write-through is now neither journaled
    /// nor in the registry.
    @discardableResult
    func close() -> Bool {
        state.withLock { s -> Bool in
            defer { s.closed = true }
            guard isLoaded, !s.closed else { return false }
            if journal != nil {
                _ = journalStep(&s)
                let generation = vars.withLock { $0.generation }
                return s.journaledGeneration != generation && s.registryGeneration != generation
            }
            return s.registryGeneration != vars.withLock { $0.generation }
        }
    }
}
