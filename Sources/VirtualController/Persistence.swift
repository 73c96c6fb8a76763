#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// Where the variables survive a restart: the node registry, shared with
/// the shipped controller (key `eva/svc_data/<id>/vars`, a map name →
/// value), plus a journal in the service's own folder (`data_path`), which
/// can be written where the registry cannot be reached (`svc_terminate` on
/// a one-thread launcher).
///
/// Every snapshot written gets the next sequence number. The journal file
/// holds the last snapshot it got, with its number; a second file, the
/// registry mark, holds the number of the last snapshot the registry
/// accepted. So the registry value keeps its shape, and at start:
/// - journal newer than the mark: the registry missed the journal's
///   snapshot (a stop that could only write the journal, a crash between
///   the two writes): the journal wins, and the registry is written from it
///   right after the load;
/// - otherwise the registry wins (it holds the same snapshot, or whatever
///   another writer, such as the shipped controller, put there since);
///   NOT_FOUND there means none yet (the config seeds), as before.
/// A registry that cannot be read falls back to the journal, else to the
/// seeds. A damaged journal or mark is logged and ignored, never fatal.
///
/// Writes: every `persist_interval`, from the controller's thread, journal
/// then registry (then mark); at `svc_terminate` the journal only (file
/// I/O; see `VirtualController.terminate` for the registry).
final class VariablePersistence: Sendable {
    struct State {
        /// The last sequence number given to a snapshot.
        var sequence: UInt64 = 0
        /// The variables' generation the journal holds (nil: none yet).
        var journaledGeneration: UInt64?
        /// The generation the registry holds (nil: unknown or stale: write).
        var registryGeneration: UInt64?
        /// The journal failed last time (logged once per failing streak).
        var journalFailing = false
        /// `svc_terminate` wrote its last snapshot: no more writes.
        var closed = false
        /// The load took the journal over the registry: write the registry
        /// right away rather than at the next write-through.
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
    /// nil when the service has no folder (`data_path` "": user nobody).
    let journal: JournalFile?
    let mark: JournalFile?
    let dataPath: String
    private let state = Guarded(State())
    private let loadedFlag = Atomic<Bool>(false)
    private let loadedSignal = Condition()

    static let journalName = "vars.journal"
    static let markName = "vars.registry-mark"

    init(host: any ServiceHost, vars: Guarded<VarStore>, registryKey: String, dataPath: String) {
        self.host = host
        self.vars = vars
        self.registryKey = registryKey
        self.dataPath = dataPath
        if dataPath.isEmpty {
            journal = nil
            mark = nil
        } else {
            let folder = dataPath.hasSuffix("/") ? String(dataPath.dropLast()) : dataPath
            journal = JournalFile(path: "\(folder)/\(Self.journalName)", magic: "EVAVCJ01")
            mark = JournalFile(path: "\(folder)/\(Self.markName)", magic: "EVAVCM01")
        }
    }

    var isLoaded: Bool { loadedFlag.load(ordering: .sequentiallyConsistent) }

    /// Waits until the variables are loaded or `deadline` (MonotonicClock)
    /// passes; true when loaded.
    func waitLoaded(until deadline: UInt64) -> Bool {
        if isLoaded { return true }
        loadedSignal.lock()
        defer { loadedSignal.unlock() }
        while !isLoaded {
            if MonotonicClock.now() >= deadline { return false }
            loadedSignal.wait(untilNanoseconds: deadline)
        }
        return true
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

    private func readJournal() -> (sequence: UInt64, vars: [String: MsgPackValue])? {
        guard let journal else { return nil }
        switch journal.read() {
        case .missing:
            return nil
        case .damaged(let why):
            host.log(.error, "journal \(journal.path) is damaged (\(why)); ignored")
            return nil
        case .record(let sequence, let payload):
            guard let value = try? MsgPackValue(decoding: payload) else {
                host.log(.error, "journal \(journal.path) does not decode; ignored")
                return nil
            }
            guard let vars = variables(value, from: journal.path) else { return nil }
            return (sequence, vars)
        }
    }

    private func readMark() -> UInt64 {
        guard let mark else { return 0 }
        switch mark.read() {
        case .missing:
            return 0
        case .damaged(let why):
            host.log(.warn, "registry mark \(mark.path) is damaged (\(why)); taken as 0")
            return 0
        case .record(let sequence, _):
            return sequence
        }
    }

    /// Loads the variables (from the controller's thread, after launch).
    /// False when skipped because the controller is stopping (nothing
    /// loaded: nothing will be written either).
    func load(bus: BusGate) -> Bool {
        if isLoaded { return true }
        let fromJournal = readJournal()
        let markSequence = readMark()
        let registry: MsgPackValue??  // nil: unreadable; .some(nil): NOT_FOUND
        var registryError: EAPIError?
        let outcome = bus.call(target: "eva.registry", method: "key_get",
                               params: MsgPackValue.map(["key": .string(registryKey)]).encoded())
        // Stopping meanwhile: `svc_terminate` may have returned (it does
        // not wait for this call on a one-thread launcher); no op calls now.
        if bus.isStopping { return false }
        switch outcome {
        case .skipped:
            return false
        case .reply(let bytes):
            if let bytes, let value = try? MsgPackValue(decoding: bytes) {
                registry = .some(value)
            } else {
                host.log(.warn, "the registry answered \(registryKey) with no value; taken as none")
                registry = .some(nil)
            }
        case .failed(let error):
            if error.code == .notFound {
                registry = .some(nil)
            } else {
                registryError = error
                registry = nil
            }
        }
        var chosen: [String: MsgPackValue]?
        var registryCurrent = true
        var source: String
        if let fromJournal, fromJournal.sequence > markSequence {
            chosen = fromJournal.vars
            registryCurrent = false
            source = "the journal (snapshot \(fromJournal.sequence); the registry has \(markSequence))"
        } else if case .some(.some(let value)) = registry, let map = variables(value, from: registryKey) {
            chosen = map
            source = registryKey
        } else if case .some(.none) = registry {
            source = "none persisted yet"
        } else if let fromJournal {
            chosen = fromJournal.vars
            source = "the journal (snapshot \(fromJournal.sequence); the registry could not be read)"
        } else {
            source = "neither the registry nor the journal could be read"
        }
        if let registryError {
            host.log(.error, "cannot read variables from \(registryKey): \(registryError); using "
                + (chosen == nil ? "the configured ones" : "the journal"))
        } else if case .some(.some) = registry, chosen == nil {
            host.log(.warn, "persisted variables at \(registryKey) are not usable; using the configured ones")
        }
        let (generation, failed) = vars.withLock { $0.load(chosen) }
        state.withLock { s in
            s.sequence = max(fromJournal?.sequence ?? 0, markSequence)
            s.journaledGeneration = generation
            s.registryGeneration = registryCurrent ? generation : nil
            s.catchUp = !registryCurrent
        }
        for (tag, error) in failed {
            host.log(.warn, "a write made before the load (\(tag)) does not fit the loaded variables: \(error)")
        }
        if let chosen {
            host.log(.info, "loaded \(chosen.count) variable(s) from \(source)")
        } else {
            host.log(.info, "no persisted variables (\(source)): using the configured ones")
        }
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
    /// journal write. nil once closed or before the load.
    private func journalStep(_ s: inout State) -> Snapshot? {
        guard !s.closed, isLoaded else { return nil }
        let (values, generation) = vars.withLock { ($0.values, $0.generation) }
        // Nothing behind: no encoding either.
        if s.registryGeneration == generation, journal == nil || s.journaledGeneration == generation { return nil }
        let bytes = encode(values)
        guard let journal else { return Snapshot(generation: generation, sequence: nil, bytes: bytes) }
        if s.journaledGeneration != generation {
            s.sequence &+= 1
            do throws(JournalError) {
                try ensureFolder()
                let sequence = s.sequence
                try bytes.withUnsafeBytes { b in
                    Result { () throws(JournalError) in try journal.write(sequence: sequence, payload: b) }
                }.get()
                s.journaledGeneration = generation
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
        return Snapshot(generation: generation, sequence: s.sequence, bytes: bytes)
    }

    private func ensureFolder() throws(JournalError) {
        if mkdir(dataPath, 0o700) != 0, errno != EEXIST {
            throw JournalError("cannot create \(dataPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the load asked for the registry to be written at once
    /// (once: the flag is cleared).
    func takeRegistryCatchUp() -> Bool {
        state.withLock { s in
            defer { s.catchUp = false }
            return s.catchUp
        }
    }

    /// One write-through (the controller's thread): the journal, then the
    /// registry when it is behind, then the mark. False when the registry
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
            host.log(.error, "cannot persist variables to \(registryKey): \(error)")
            return false
        case .reply:
            let closed = state.withLock { s -> Bool in
                if s.registryGeneration.map({ $0 < snapshot.generation }) ?? true {
                    s.registryGeneration = snapshot.generation
                }
                return s.closed
            }
            if let mark, let sequence = snapshot.sequence, !closed {
                do throws(JournalError) {
                    try mark.write(sequence: sequence, payload: UnsafeRawBufferPointer(start: nil, count: 0))
                } catch {
                    host.log(.warn, "cannot write the registry mark: \(error)")
                }
            }
            host.log(.debug, "persisted the variables to \(registryKey)")
            return true
        }
    }

    /// At `svc_terminate`: the last journal write (file I/O only, never a
    /// bus call), then no more writes. Returns whether something set since
    /// the last write-through is now neither journaled nor in the registry.
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
