#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// The engine's state and threads. One lock (`monitor`) guards everything;
/// effects, bus calls and publishes always run with it released.
///
/// Unchecked Sendable: every mutable field is read and written only while
/// `monitor` is locked (`threadList` while `lifecycle` is); the `let`s are
/// immutable or Sendable themselves.
final class EngineCore: @unchecked Sendable {
    static let condUnit = 0, condMacro = 1, condTimer = 2, condIdle = 3
    static let unitBatch = 64

    let monitor = Monitor(conditions: 4)
    let host: any ServiceHost
    let effects: any ActionEffects
    let unitSettings: [String: UnitSettings]
    let configuredUnits: [OID]
    let macros: [String: MacroRecord]
    let macroLimit: Int
    /// Past this time (set at shutdown) a BUSY publish is given up.
    let giveUp = RetryDeadline()
    /// Events are retried while the bus is BUSY until `giveUp`, however long.
    let busyRetry: BusyRetry
    /// Serialises start against shutdown and guards `threadList`. A pthread
    /// lock (not `Mutex`) so that ThreadSanitizer sees the ordering.
    let lifecycle = Condition()
    var threadList: [JoinableThread] = []

    // Guarded by `monitor` (so no dynamic exclusivity check: the lock rules
    // out overlapping access).
    @exclusivity(unchecked) var units: [String: UnitRecord] = [:]
    @exclusivity(unchecked) var jobs: [ActionUUID: Job] = [:]
    @exclusivity(unchecked) var nextSeq: UInt64 = 1
    @exclusivity(unchecked) var unitTasks = Fifo<EngineTask>()
    @exclusivity(unchecked) var macroTasks = Fifo<EngineTask>()
    @exclusivity(unchecked) var idleUnitWorkers = 0
    @exclusivity(unchecked) var idleMacroWorkers = 0
    /// Signals sent to idle workers that have not woken yet (no need to
    /// signal again for the next task).
    @exclusivity(unchecked) var unitWakeups = 0
    @exclusivity(unchecked) var macroWakeups = 0
    @exclusivity(unchecked) var timers = TimerHeap()
    @exclusivity(unchecked) var timerSleeping = false
    @exclusivity(unchecked) var timerWakeAt = UInt64.max
    @exclusivity(unchecked) var macroWaiting = JobHeap()
    @exclusivity(unchecked) var macroRunning = 0
    @exclusivity(unchecked) var pumping = false
    /// Threads that own a job's publishing right now.
    @exclusivity(unchecked) var publishers = 0
    @exclusivity(unchecked) var started = false
    @exclusivity(unchecked) var stopping = false
    /// Unit workers that run (drains are handed to them only when some do).
    @exclusivity(unchecked) var unitWorkerCount = 0

    init(config: ActionConfig, host: any ServiceHost, effects: any ActionEffects) {
        self.host = host
        self.effects = effects
        busyRetry = BusyRetry(initialPause: 0.001, maxPause: 0.05, giveUpAfter: .infinity, deadline: giveUp)
        var settings: [String: UnitSettings] = [:]
        for u in config.units { settings[u.oid.description] = u.settings }
        unitSettings = settings
        configuredUnits = config.units.map(\.oid)
        var m: [String: MacroRecord] = [:]
        for def in config.macros { m[def.oid.description] = MacroRecord(def) }
        macros = m
        macroLimit = config.macroWorkers
    }

    // MARK: - Accepting work (RPC threads)

    func submitAction(_ req: JobRequest) throws(EAPIError) {
        let key = req.oid.description
        monitor.lock()
        if stopping {
            monitor.unlock()
            throw .notReady("the controller is stopping")
        }
        // One lookup when the unit is known (the usual case).
        var known = units[key]
        if known == nil {
            // The unit is new to the engine: the controller creates it or refuses.
            monitor.unlock()
            try effects.ensureUnit(req.oid)
            monitor.lock()
            if stopping {
                monitor.unlock()
                throw .notReady("the controller is stopping")
            }
            known = units[key]
        }
        if jobs[req.uuid] != nil {
            monitor.unlock()
            throw EAPIError(.alreadyExists, "action \(req.uuid) exists")
        }
        let unit: UnitRecord
        if let u = known {
            unit = u
        } else {
            unit = UnitRecord(oid: req.oid, settings: unitSettings[key] ?? .auto)
            units[key] = unit
        }
        let job = Job(seq: takeSeq(), uuid: req.uuid, topic: unit.topic, priority: req.priority,
                      deadline: deadline(req.timeout), unit: unit, value: req.value, macro: nil)
        admitQueued(job, on: unit, MsgPackWriter())
    }

    /// Whether `oid` is a unit with a `units` entry (its actions queue).
    func hasSettings(_ oid: OID) -> Bool { unitSettings[oid.description] != nil }

    /// An action on an item without a `units` entry, done as the shipped
    /// controller does it, before the call returns: the state `{status: 1,
    /// value}` (RAW), the `action_map` variable, then COMPLETED; no PENDING,
    /// no RUNNING, nothing queued.
    func actImmediately(_ req: JobRequest) throws(EAPIError) {
        monitor.lock()
        let refuse = stopping
        monitor.unlock()
        if refuse { throw .notReady("the controller is stopping") }
        try effects.ensureUnit(req.oid)
        effects.completeUnitAction(req.oid, status: ItemStatus.ok, value: req.value)
        publish(uuid: req.uuid, topic: "ACT/" + req.oid.path, ActionEvent(status: .completed, exitcode: 0),
                MsgPackWriter())
    }

    func submitRun(_ req: JobRequest, macro: MacroRecord) throws(EAPIError) {
        var args: [MsgPackValue] = []
        var kwargs = MsgPackMap()
        if let p = req.params {
            if let a = p["args"], !a.isNil {
                guard case .array(let list) = a else { throw .invalidData("run: params.args must be a list") }
                args = list
            }
            if let k = p["kwargs"], !k.isNil {
                guard case .map(let m) = k else { throw .invalidData("run: params.kwargs must be a map") }
                kwargs = m
            }
        }
        monitor.lock()
        if stopping {
            monitor.unlock()
            throw .notReady("the controller is stopping")
        }
        if jobs[req.uuid] != nil {
            monitor.unlock()
            throw EAPIError(.alreadyExists, "action \(req.uuid) exists")
        }
        let job = Job(seq: takeSeq(), uuid: req.uuid, topic: macro.topic, priority: req.priority,
                      deadline: deadline(req.timeout), unit: nil, value: .nil, macro: macro,
                      args: args, kwargs: kwargs)
        macro.live[job.seq] = job
        admit(job, MsgPackWriter(), handOff: true) {
            macroWaiting.push(job)
        }
    }

    func takeSeq() -> UInt64 {
        defer { nextSeq += 1 }
        return nextSeq
    }

    func deadline(_ timeout: UInt64?) -> UInt64 {
        guard let timeout else { return UInt64.max }
        let now = MonotonicClock.now()
        return timeout >= UInt64.max - now ? UInt64.max : now + timeout
    }

    /// Registers a new job (lock held on entry, released on return),
    /// publishes its PENDING event, and only then lets it start (`enqueue`,
    /// lock held), so that nothing of the job (its RUNNING, the state and
    /// variable it sets, its end) can go out before its PENDING. Until then
    /// the job is waiting but in no queue: terminate, kill (which look it up
    /// in `jobs`), its timeout and shutdown may end it meanwhile, and then it
    /// is not queued at all.
    /// `admit` for a unit action on an RPC thread, one locked section
    /// shorter: PENDING goes out here, then `drain`, in the section where it
    /// gives the publishing right up, queues the job on `unit` (if it is
    /// still waiting); the rest of its events go to a unit worker.
    func admitQueued(_ job: Job, on unit: UnitRecord, _ writer: MsgPackWriter) {
        jobs[job.uuid] = job
        var sec = Section()
        append(job, ActionEvent(status: .pending), &sec)
        if job.deadline != UInt64.max { setTimer(job, at: job.deadline) }
        // A new job is not being published: its first event claims it here.
        var pending: [ActionEvent] = []
        swap(&pending, &job.outbox)
        monitor.unlock()
        for (level, line) in sec.logs { host.log(level, line) }
        for e in pending { publish(job, e, writer) }
        drain(job, writer, handOff: true, queueOn: unit)
    }

    func admit(_ job: Job, _ writer: MsgPackWriter, handOff: Bool, enqueue: () -> Void) {
        jobs[job.uuid] = job
        var sec = Section()
        append(job, ActionEvent(status: .pending), &sec)
        if job.deadline != UInt64.max { setTimer(job, at: job.deadline) }
        flush(&sec)
        monitor.unlock()
        publish(&sec, writer, handOff: handOff)
        monitor.lock()
        var started = Section()
        if job.phase == .waiting, !stopping {
            enqueue()
            if job.macro != nil { pumpMacros(&started) }
        }
        flush(&started)
        monitor.unlock()
        publish(&started, writer, handOff: handOff)
    }

    // MARK: - terminate / kill (RPC threads)

    func terminate(_ uuid: ActionUUID) throws(EAPIError) {
        monitor.lock()
        guard let job = jobs[uuid], job.isLive else {
            monitor.unlock()
            throw .notFound("action \(uuid) not found or already finished")
        }
        var sec = Section()
        stop(job, reason: "terminated", &sec)
        flush(&sec)
        monitor.unlock()
        publish(&sec, MsgPackWriter(), handOff: true)
    }

    func kill(_ oid: OID) throws(EAPIError) {
        let key = oid.description
        var sec = Section()
        switch oid.kind {
        case .unit:
            monitor.lock()
            guard let unit = units[key] else {
                monitor.unlock()
                // Never had an action here: fine if the unit exists.
                try effects.ensureUnit(oid)
                return
            }
            // From `jobs`, not the queue: a job admitted but not queued yet
            // (see `admit`) is waiting too.
            var waiting: [Job] = []
            for job in jobs.values where job.unit === unit && job.phase == .waiting { waiting.append(job) }
            waiting.sort { $0.queueKey < $1.queueKey }
            unit.waiting.removeAll()
            for job in waiting { stop(job, reason: "killed", &sec) }
            if let running = unit.running, running.phase == .running { stop(running, reason: "killed", &sec) }
        case .lmacro:
            guard let macro = macros[key] else { throw .notFound("lmacro \(key) not found") }
            monitor.lock()
            let live = macro.live.values.sorted { $0.seq < $1.seq }
            for job in live where job.phase == .waiting { stop(job, reason: "killed", &sec) }
            for job in live where job.phase == .running { stop(job, reason: "killed", &sec) }
        default:
            throw .notFound("\(key) has no actions")
        }
        flush(&sec)
        monitor.unlock()
        publish(&sec, MsgPackWriter(), handOff: true)
    }

    /// Ends a live job from outside: waiting → CANCELED, running → TERMINATED.
    func stop(_ job: Job, reason: String, _ sec: inout Section) {
        switch job.phase {
        case .waiting:
            end(job, ActionEvent(status: .canceled, err: reason), &sec)
        case .running:
            end(job, ActionEvent(status: .terminated, err: reason, exitcode: -15), &sec)
        case .finishing, .done:
            break
        }
    }
}
