#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// Work for the engine's threads.
enum EngineTask {
    /// Start the next waiting action of a unit (unit workers).
    case startUnit(UnitRecord)
    /// A unit action's `action_time` passed: apply and end it (unit workers).
    case finish(Job)
    /// Publish a job's queued events (unit workers; queued by the timer).
    case drain(Job)
    /// Run an lmacro's steps from its `pc` (macro workers).
    case step(Job)
}

/// What one locked section produced for the thread to do once unlocked:
/// jobs whose events this thread now publishes (with the events taken out of
/// their outboxes) and log lines.
struct Section {
    var claimed: [Job] = []
    var batches: [(job: Job, events: [JobEvent])] = []
    var logs: [(LogLevel, String)] = []
}

/// The engine's state and threads. One lock (`monitor`) guards everything;
/// effects, bus calls and publishes always run with it released.
///
/// Unchecked Sendable: every mutable field is read and written only while
/// `monitor` is locked (`threadList` while `lifecycle` is); the `let`s are
/// immutable or Sendable themselves.
final class EngineCore: @unchecked Sendable {
    static let condUnit = 0, condMacro = 1, condTimer = 2, condIdle = 3
    static let unitBatch = 64
    static let busyBackoffStart: UInt64 = 1_000_000
    static let busyBackoffMax: UInt64 = 50_000_000

    let monitor = Monitor(conditions: 4)
    let host: any ServiceHost
    let effects: any ActionEffects
    let unitSettings: [String: UnitSettings]
    let configuredUnits: [OID]
    let macros: [String: MacroRecord]
    let macroLimit: Int
    /// Past this time (set at shutdown) a BUSY publish is given up.
    let giveUpAt = Atomic<UInt64>(UInt64.max)
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
        if units[key] == nil {
            // The unit is new to the engine: the controller creates it or refuses.
            monitor.unlock()
            try effects.ensureUnit(req.oid)
            monitor.lock()
            if stopping {
                monitor.unlock()
                throw .notReady("the controller is stopping")
            }
        }
        if jobs[req.uuid] != nil {
            monitor.unlock()
            throw EAPIError(.alreadyExists, "action \(req.uuid) exists")
        }
        let unit: UnitRecord
        if let u = units[key] {
            unit = u
        } else {
            unit = UnitRecord(oid: req.oid, settings: unitSettings[key] ?? .auto)
            units[key] = unit
        }
        let job = Job(seq: takeSeq(), uuid: req.uuid, topic: unit.topic, priority: req.priority,
                      deadline: deadline(req.timeout), unit: unit,
                      value: req.params?["value"] ?? .nil, macro: nil)
        var sec = Section()
        accept(job, &sec)
        unit.waiting.push(job)
        scheduleUnit(unit)
        flush(&sec)
        monitor.unlock()
        publish(&sec, MsgPackWriter(), handOff: true)
    }

    func submitRun(_ req: JobRequest, macro: MacroRecord) throws(EAPIError) {
        var args: [MsgPackValue] = []
        var kwargs = MsgPackMap()
        if let p = req.params {
            if let a = p["args"], !a.isNil {
                guard case .array(let list) = a else { throw .invalidParams("run: params.args must be a list") }
                args = list
            }
            if let k = p["kwargs"], !k.isNil {
                guard case .map(let m) = k else { throw .invalidParams("run: params.kwargs must be a map") }
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
        var sec = Section()
        accept(job, &sec)
        macro.live[job.seq] = job
        macroWaiting.push(job)
        pumpMacros(&sec)
        flush(&sec)
        monitor.unlock()
        publish(&sec, MsgPackWriter(), handOff: true)
    }

    private func takeSeq() -> UInt64 {
        defer { nextSeq += 1 }
        return nextSeq
    }

    private func deadline(_ timeout: UInt64?) -> UInt64 {
        guard let timeout else { return UInt64.max }
        let now = MonotonicClock.now()
        return timeout >= UInt64.max - now ? UInt64.max : now + timeout
    }

    /// Registers a new job and queues its PENDING event (lock held).
    private func accept(_ job: Job, _ sec: inout Section) {
        jobs[job.uuid] = job
        append(job, JobEvent(status: .pending), &sec)
        if job.deadline != UInt64.max { setTimer(job, at: job.deadline) }
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
            var waiting: [Job] = []
            for entry in unit.waiting.items where entry.job.phase == .waiting { waiting.append(entry.job) }
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
    private func stop(_ job: Job, reason: String, _ sec: inout Section) {
        switch job.phase {
        case .waiting:
            end(job, JobEvent(status: .canceled, err: reason), &sec)
        case .running:
            end(job, JobEvent(status: .terminated, err: reason, exitcode: -15), &sec)
        case .finishing, .done:
            break
        }
    }

    // MARK: - The state machine (lock held)

    private func append(_ job: Job, _ event: JobEvent, _ sec: inout Section) {
        job.outbox.append(event)
        if event.status.isTerminal { job.terminalAppended = true }
        if !job.publishing {
            job.publishing = true
            publishers += 1
            sec.claimed.append(job)
        }
    }

    /// The one transition to a terminal state. `job` is waiting, running, or
    /// finishing (claimed by the caller); its terminal event is appended here.
    private func end(_ job: Job, _ event: JobEvent, rescheduleUnit: Bool = true, _ sec: inout Section) {
        assert(job.phase != .done, "a job ended twice")
        guard job.phase != .done else { return }
        let wasRunning = job.phase == .running || job.phase == .finishing
        job.phase = .done
        timers.remove(job)
        append(job, event, &sec)
        if let unit = job.unit {
            if wasRunning, unit.running === job {
                unit.running = nil
                if rescheduleUnit { scheduleUnit(unit) }
            }
        } else if let macro = job.macro {
            macro.live[job.seq] = nil
            if wasRunning {
                macroRunning -= 1
                if case .child(let child) = job.wait {
                    child.parent = nil
                    stop(child, reason: "its lmacro run ended", &sec)
                }
                job.wait = .busy
                pumpMacros(&sec)
            }
            if event.status != .completed, host.isLogged(.warn) {
                let why = event.err.map { ": \($0)" } ?? ""
                sec.logs.append((.warn, "lmacro \(macro.definition.oid) run \(job.uuid) \(statusName(event.status))\(why)"))
            }
        }
        if let parent = job.parent {
            job.parent = nil
            if parent.phase == .running, case .child(let c) = parent.wait, c === job {
                if event.status == .completed {
                    parent.wait = .busy
                    pushMacroTask(.step(parent))
                } else {
                    parent.wait = .busy
                    let oid = job.unit.map { $0.oid.description } ?? "?"
                    end(parent, JobEvent(status: .failed, err: "action step on \(oid) ended \(statusName(event.status))",
                                         exitcode: 1), &sec)
                }
            }
        }
    }

    private func scheduleUnit(_ unit: UnitRecord) {
        guard unit.running == nil, !unit.scheduled, !unit.waiting.isEmpty else { return }
        unit.scheduled = true
        pushUnitTask(.startUnit(unit))
    }

    private func pumpMacros(_ sec: inout Section) {
        guard !pumping, !stopping else { return }
        pumping = true
        defer { pumping = false }
        var now: UInt64 = 0
        while macroRunning < macroLimit, let job = macroWaiting.pop() {
            guard job.phase == .waiting else { continue }
            if job.deadline != UInt64.max {
                if now == 0 { now = MonotonicClock.now() }
                if now >= job.deadline {
                    end(job, JobEvent(status: .failed, err: "timed out waiting for a macro worker", exitcode: 1), &sec)
                    continue
                }
            }
            job.phase = .running
            job.wait = .busy
            macroRunning += 1
            append(job, JobEvent(status: .running), &sec)
            pushMacroTask(.step(job))
        }
    }

    private func pushUnitTask(_ task: EngineTask) {
        unitTasks.push(task)
        if idleUnitWorkers > unitWakeups {
            unitWakeups += 1
            monitor.signal(Self.condUnit)
        }
    }

    private func pushMacroTask(_ task: EngineTask) {
        macroTasks.push(task)
        if idleMacroWorkers > macroWakeups {
            macroWakeups += 1
            monitor.signal(Self.condMacro)
        }
    }

    private func setTimer(_ job: Job, at: UInt64) {
        timers.set(job, at: at)
        if timerSleeping, at < timerWakeAt {
            timerWakeAt = at
            monitor.signal(Self.condTimer)
        }
    }

    /// Takes the events of the jobs this section claimed (lock held).
    private func flush(_ sec: inout Section) {
        guard !sec.claimed.isEmpty else { return }
        for job in sec.claimed {
            var events: [JobEvent] = []
            swap(&events, &job.outbox)
            sec.batches.append((job, events))
        }
        sec.claimed.removeAll()
    }

    // MARK: - Publishing (lock released)

    /// Publishes what a section claimed, then whatever else those jobs queue
    /// meanwhile, and logs its lines. With `handOff` (an RPC thread) the
    /// events queued meanwhile go to a unit worker, so the call returns soon.
    private func publish(_ sec: inout Section, _ writer: MsgPackWriter, handOff: Bool = false) {
        for (level, line) in sec.logs { host.log(level, line) }
        sec.logs.removeAll()
        guard !sec.batches.isEmpty else { return }
        for (job, events) in sec.batches {
            for e in events { publish(job, e, writer) }
            drain(job, writer, handOff: handOff)
        }
        sec.batches.removeAll()
    }

    /// Publishes a job's queued events until none are left, then gives up
    /// the publishing right (this thread holds it). With `handOff`, passes
    /// the right and the events to a unit worker instead, while they run.
    func drain(_ job: Job, _ writer: MsgPackWriter, handOff: Bool = false) {
        var batch: [JobEvent] = []
        while true {
            monitor.lock()
            if job.outbox.isEmpty {
                job.publishing = false
                publishers -= 1
                if job.terminalAppended, let j = jobs[job.uuid], j === job { jobs[job.uuid] = nil }
                if publishers == 0, stopping { monitor.broadcast(Self.condIdle) }
                monitor.unlock()
                return
            }
            if handOff, unitWorkerCount > 0, !stopping {
                pushUnitTask(.drain(job))
                monitor.unlock()
                return
            }
            swap(&batch, &job.outbox)
            monitor.unlock()
            for e in batch { publish(job, e, writer) }
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// One event to `ACT/...`; a BUSY bus is retried with a doubling pause
    /// (1 ms to 50 ms) until it takes the event or shutdown's deadline passes.
    private func publish(_ job: Job, _ event: JobEvent, _ writer: MsgPackWriter) {
        writer.reset()
        var n = 2
        if event.out != nil { n += 1 }
        if event.err != nil { n += 1 }
        if event.exitcode != nil { n += 1 }
        writer.packMapHeader(n)
        writer.packString("uuid")
        packUUID(job.uuid, writer)
        writer.packString("status")
        writer.packUInt(UInt64(event.status.rawValue))
        if let out = event.out {
            writer.packString("out")
            writer.pack(out)
        }
        if let err = event.err {
            writer.packString("err")
            writer.packString(err)
        }
        if let code = event.exitcode {
            writer.packString("exitcode")
            writer.packInt(code)
        }
        var pause = Self.busyBackoffStart
        while true {
            do throws(EAPIError) {
                try host.publish(topic: job.topic, payload: writer.bytes)
                return
            } catch {
                guard error.code == .busy || error.code == .busBusy else {
                    host.log(.error, "unable to publish \(statusName(event.status)) of \(job.uuid) to \(job.topic): \(error)")
                    return
                }
                let now = MonotonicClock.now()
                let limit = giveUpAt.load(ordering: .acquiring)
                if now >= limit {
                    host.log(.error, "bus busy past the shutdown deadline: \(statusName(event.status)) of \(job.uuid) to \(job.topic) is lost")
                    return
                }
                sleepNanoseconds(min(pause, limit - now))
                pause = min(pause * 2, Self.busyBackoffMax)
            }
        }
    }

    // MARK: - Threads

    func start() {
        lifecycle.withLock {
            monitor.lock()
            let go = !started && !stopping
            started = true
            monitor.unlock()
            guard go else { return }
            let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            let unitWorkers = max(2, min(4, cpus))
            let macroWorkers = macros.isEmpty ? 0 : min(macroLimit, 8)
            var spawned: [JoinableThread?] = [JoinableThread { [self] in timerLoop() }]
            var units: [JoinableThread] = []
            for _ in 0..<unitWorkers {
                if let t = JoinableThread({ [self] in unitWorkerLoop() }) { units.append(t) } else { spawned.append(nil) }
            }
            spawned += units.map { $0 }
            for _ in 0..<macroWorkers { spawned.append(JoinableThread { [self] in macroWorkerLoop() }) }
            monitor.lock()
            unitWorkerCount = units.count
            monitor.unlock()
            let ok = spawned.compactMap { $0 }
            if ok.count != spawned.count {
                host.log(.error, "action engine: the system refused \(spawned.count - ok.count) of \(spawned.count) threads")
            }
            threadList.append(contentsOf: ok)
        }
    }

    private func unitWorkerLoop() {
        let writer = MsgPackWriter()
        monitor.lock()
        while true {
            if let task = unitTasks.pop() {
                monitor.unlock()
                perform(task, writer)
                monitor.lock()
                continue
            }
            if stopping { break }
            idleUnitWorkers += 1
            monitor.wait(Self.condUnit)
            idleUnitWorkers -= 1
            if unitWakeups > 0 { unitWakeups -= 1 }
        }
        monitor.unlock()
    }

    private func macroWorkerLoop() {
        let writer = MsgPackWriter()
        monitor.lock()
        while true {
            if let task = macroTasks.pop() {
                monitor.unlock()
                perform(task, writer)
                monitor.lock()
                continue
            }
            if stopping { break }
            idleMacroWorkers += 1
            monitor.wait(Self.condMacro)
            idleMacroWorkers -= 1
            if macroWakeups > 0 { macroWakeups -= 1 }
        }
        monitor.unlock()
    }

    private func perform(_ task: EngineTask, _ writer: MsgPackWriter) {
        switch task {
        case .startUnit(let unit): runUnit(unit, writer)
        case .finish(let job): finishDue(job, writer)
        case .drain(let job): drain(job, writer)
        case .step(let job): runMacro(job, writer)
        }
    }

    /// The timer thread: fires due timers (lock held while deciding; anything
    /// that may block goes to the workers).
    private func timerLoop() {
        monitor.lock()
        while !stopping {
            guard let top = timers.first else {
                timerSleeping = true
                timerWakeAt = UInt64.max
                monitor.wait(Self.condTimer)
                timerSleeping = false
                continue
            }
            let now = MonotonicClock.now()
            if top.timerAt > now {
                timerSleeping = true
                timerWakeAt = top.timerAt
                monitor.wait(Self.condTimer, untilNanoseconds: top.timerAt)
                timerSleeping = false
                continue
            }
            timers.remove(top)
            var sec = Section()
            fire(top, now: now, &sec)
            for job in sec.claimed { pushUnitTask(.drain(job)) }
            if !sec.logs.isEmpty {
                monitor.unlock()
                for (level, line) in sec.logs { host.log(level, line) }
                monitor.lock()
            }
        }
        monitor.unlock()
    }

    private func fire(_ job: Job, now: UInt64, _ sec: inout Section) {
        switch job.phase {
        case .waiting:
            if now >= job.deadline {
                let what = job.unit != nil ? "timed out waiting in the unit queue" : "timed out waiting for a macro worker"
                end(job, JobEvent(status: .failed, err: what, exitcode: 1), &sec)
            } else if job.deadline != UInt64.max {
                timers.set(job, at: job.deadline)
            }
        case .running:
            if job.unit != nil {
                if job.completeAt <= now, job.completeAt <= job.deadline {
                    pushUnitTask(.finish(job))
                } else if now >= job.deadline {
                    end(job, JobEvent(status: .terminated, err: "timeout", exitcode: -15), &sec)
                } else {
                    timers.set(job, at: min(job.completeAt, job.deadline))
                }
            } else {
                if now >= job.deadline {
                    end(job, JobEvent(status: .terminated, err: "timeout", exitcode: -15), &sec)
                } else if case .sleeping = job.wait, now >= job.sleepEnd {
                    job.wait = .busy
                    job.sleepEnd = UInt64.max
                    if job.deadline != UInt64.max { timers.set(job, at: job.deadline) }
                    pushMacroTask(.step(job))
                } else {
                    var at = job.deadline
                    if case .sleeping = job.wait { at = min(at, job.sleepEnd) }
                    if at != UInt64.max { timers.set(job, at: at) }
                }
            }
        case .finishing, .done:
            break
        }
    }

    // MARK: - Unit actions (unit workers)

    /// Starts a unit's next actions; actions with no `action_time` are done
    /// here at once, up to a batch, so a long queue does not bounce between
    /// threads.
    private func runUnit(_ unit: UnitRecord, _ writer: MsgPackWriter) {
        monitor.lock()
        unit.scheduled = false
        var budget = Self.unitBatch
        while budget > 0, unit.running == nil, let job = unit.waiting.pop() {
            guard job.phase == .waiting else { continue }
            budget -= 1
            var sec = Section()
            let now = MonotonicClock.now()
            if now >= job.deadline {
                end(job, JobEvent(status: .failed, err: "timed out waiting in the unit queue", exitcode: 1),
                    rescheduleUnit: false, &sec)
                flush(&sec)
                monitor.unlock()
                publish(&sec, writer)
                monitor.lock()
                continue
            }
            job.phase = .running
            unit.running = job
            append(job, JobEvent(status: .running), &sec)
            let time = unit.settings.actionTime
            if time == 0 {
                job.phase = .finishing
                timers.remove(job)
                monitor.unlock()
                complete(job, sec: &sec, rescheduleUnit: false, writer)
                monitor.lock()
            } else {
                job.completeAt = time >= UInt64.max - now ? UInt64.max : now + time
                setTimer(job, at: min(job.completeAt, job.deadline))
                flush(&sec)
                monitor.unlock()
                publish(&sec, writer)
                monitor.lock()
            }
        }
        scheduleUnit(unit)
        monitor.unlock()
    }

    /// A running action's `action_time` passed.
    private func finishDue(_ job: Job, _ writer: MsgPackWriter) {
        monitor.lock()
        guard job.phase == .running else {
            monitor.unlock()
            return
        }
        job.phase = .finishing
        timers.remove(job)
        monitor.unlock()
        var sec = Section()
        complete(job, sec: &sec, rescheduleUnit: true, writer)
    }

    /// Applies a finishing action (lock released) and ends it: the effects
    /// come first, then COMPLETED; or FAILED for a unit set to fail.
    private func complete(_ job: Job, sec: inout Section, rescheduleUnit: Bool, _ writer: MsgPackWriter) {
        let unit = job.unit!
        let settings = unit.settings
        if !settings.fail {
            effects.completeUnitAction(unit.oid, status: settings.status, value: job.value)
        }
        monitor.lock()
        let event = settings.fail
            ? JobEvent(status: .failed, err: "the unit is set to fail", exitcode: 1)
            : JobEvent(status: .completed, exitcode: 0)
        end(job, event, rescheduleUnit: rescheduleUnit, &sec)
        flush(&sec)
        monitor.unlock()
        publish(&sec, writer)
    }

    // MARK: - Lmacro runs (macro workers)

    private enum StepOutcome {
        case next
        /// A step went wrong: FAILED, the text prefixed with the step.
        case fail(String)
        /// A `fail` step: FAILED with exactly this text.
        case failed(String)
        case sleep(UInt64)
        case action(OID, MsgPackValue)
    }

    private func runMacro(_ job: Job, _ writer: MsgPackWriter) {
        monitor.lock()
        guard job.phase == .running, case .busy = job.wait, let macro = job.macro else {
            monitor.unlock()
            return
        }
        var pc = job.pc
        var output = job.output
        monitor.unlock()
        let steps = macro.definition.steps
        while true {
            var sec = Section()
            if pc >= steps.count {
                monitor.lock()
                if job.phase == .running { end(job, JobEvent(status: .completed, out: output, exitcode: 0), &sec) }
                flush(&sec)
                monitor.unlock()
                publish(&sec, writer)
                return
            }
            let outcome = execute(steps[pc], of: job, output: &output)
            switch outcome {
            case .next:
                pc += 1
                monitor.lock()
                guard job.phase == .running else {
                    monitor.unlock()
                    return
                }
                job.pc = pc
                job.output = output
                monitor.unlock()
            case .fail(let text), .failed(let text):
                let err: String
                if case .failed = outcome { err = text } else { err = "step \(pc + 1) (\(steps[pc].name)): \(text)" }
                monitor.lock()
                if job.phase == .running {
                    end(job, JobEvent(status: .failed, err: err, exitcode: 1), &sec)
                }
                flush(&sec)
                monitor.unlock()
                publish(&sec, writer)
                return
            case .sleep(let ns):
                pc += 1
                monitor.lock()
                guard job.phase == .running else {
                    monitor.unlock()
                    return
                }
                job.pc = pc
                job.output = output
                if ns == 0 {
                    monitor.unlock()
                    continue
                }
                let now = MonotonicClock.now()
                job.sleepEnd = ns >= UInt64.max - now ? UInt64.max : now + ns
                job.wait = .sleeping
                let at = min(job.sleepEnd, job.deadline)
                if at != UInt64.max { setTimer(job, at: at) }
                monitor.unlock()
                return
            case .action(let oid, let value):
                pc += 1
                do throws(EAPIError) {
                    try effects.ensureUnit(oid)
                } catch {
                    monitor.lock()
                    if job.phase == .running {
                        end(job, JobEvent(status: .failed, err: "step \(pc) (action): \(error)", exitcode: 1), &sec)
                    }
                    flush(&sec)
                    monitor.unlock()
                    publish(&sec, writer)
                    return
                }
                monitor.lock()
                guard job.phase == .running, !stopping else {
                    monitor.unlock()
                    return
                }
                job.pc = pc
                job.output = output
                let key = oid.description
                let unit: UnitRecord
                if let u = units[key] {
                    unit = u
                } else {
                    unit = UnitRecord(oid: oid, settings: unitSettings[key] ?? .auto)
                    units[key] = unit
                }
                var uuid = ActionUUID.random()
                while jobs[uuid] != nil { uuid = ActionUUID.random() }
                let child = Job(seq: takeSeq(), uuid: uuid, topic: unit.topic, priority: job.priority,
                                deadline: UInt64.max, unit: unit, value: value, macro: nil)
                child.parent = job
                job.wait = .child(child)
                accept(child, &sec)
                unit.waiting.push(child)
                scheduleUnit(unit)
                flush(&sec)
                monitor.unlock()
                publish(&sec, writer)
                return
            }
        }
    }

    /// Runs one step with the lock released.
    private func execute(_ step: MacroStep, of job: Job, output: inout MsgPackValue) -> StepOutcome {
        var missing: ArgumentRef?
        func sub(_ v: MsgPackValue) -> MsgPackValue {
            substitute(v, args: job.args, kwargs: job.kwargs, missing: &missing)
        }
        switch step {
        case .set(let rawI, let rawStatus, let rawValue):
            let i = sub(rawI)
            let status = rawStatus.map(sub)
            let value = rawValue.map(sub)
            if let m = missing { return .fail("argument \(m.text) is missing") }
            guard let s = i.stringValue, let oid = OID(s) else { return .fail("\(describe(i)) is not an OID") }
            var st: Int16?
            if let status, !status.isNil {
                guard let n = status.int64Value, let n16 = Int16(exactly: n) else {
                    return .fail("status \(describe(status)) is not an int16")
                }
                st = n16
            }
            do throws(EAPIError) {
                try effects.setItem(oid, status: st, value: value)
            } catch {
                return .fail("set \(oid): \(error)")
            }
            return .next
        case .variable(let rawI, let rawValue):
            let i = sub(rawI)
            let value = sub(rawValue)
            if let m = missing { return .fail("argument \(m.text) is missing") }
            guard let tag = i.stringValue, !tag.isEmpty else { return .fail("\(describe(i)) is not a tag") }
            do throws(EAPIError) {
                try effects.setVariable(tag: tag, value: value)
            } catch {
                return .fail("var \(tag): \(error)")
            }
            return .next
        case .action(let rawI, let rawValue):
            let i = sub(rawI)
            let value = sub(rawValue)
            if let m = missing { return .fail("argument \(m.text) is missing") }
            guard let s = i.stringValue, let oid = OID(s), oid.kind == .unit else {
                return .fail("\(describe(i)) is not a unit OID")
            }
            return .action(oid, value)
        case .sleep(let raw):
            let v = sub(raw)
            if let m = missing { return .fail("argument \(m.text) is missing") }
            guard let t = v.doubleValue, t.isFinite, t >= 0 else { return .fail("\(describe(v)) is not a duration") }
            return .sleep(MonotonicClock.nanoseconds(seconds: t))
        case .call(let rawTarget, let rawMethod, let rawParams):
            let target = sub(rawTarget)
            let method = sub(rawMethod)
            let params = rawParams.map(sub)
            if let m = missing { return .fail("argument \(m.text) is missing") }
            guard let t = target.stringValue, !t.isEmpty else { return .fail("\(describe(target)) is not a target") }
            guard let me = method.stringValue, !me.isEmpty else { return .fail("\(describe(method)) is not a method") }
            do throws(EAPIError) {
                output = try host.call(target: t, method: me, params: params) ?? .nil
            } catch {
                return .fail("call \(t) \(me): \(error)")
            }
            return .next
        case .out(let raw):
            let v = sub(raw)
            if let m = missing { return .fail("argument \(m.text) is missing") }
            output = v
            return .next
        case .fail(let raw):
            let v = sub(raw)
            if let m = missing { return .fail("argument \(m.text) is missing") }
            return .failed(v.stringValue ?? describe(v))
        }
    }

    // MARK: - Shutdown

    /// Ends every live job, joins the threads, waits for publishers; returns
    /// by `deadline` unless a bus call made by a step outlasts it.
    func shutdown(deadline: UInt64) {
        let now = MonotonicClock.now()
        monitor.lock()
        if stopping {
            monitor.unlock()
            return
        }
        stopping = true
        let left = deadline > now ? deadline - now : 0
        let margin = min(UInt64(50_000_000), max(UInt64(1_000_000), left / 5))
        giveUpAt.store(left > margin ? deadline - margin : now, ordering: .releasing)
        var sec = Section()
        let live = jobs.values.filter(\.isLive).sorted { $0.seq < $1.seq }
        var canceled = 0
        var terminated = 0
        // Running runs first, so that their unit actions end with them and
        // the runs end TERMINATED rather than failed by their action step.
        for job in live where job.macro != nil && job.phase == .running {
            stop(job, reason: "the controller is stopping", &sec)
            terminated += 1
        }
        for job in live where job.phase == .waiting {
            stop(job, reason: "the controller is stopping", &sec)
            canceled += 1
        }
        for job in live where job.phase == .running {
            stop(job, reason: "the controller is stopping", &sec)
            terminated += 1
        }
        monitor.broadcast(Self.condUnit)
        monitor.broadcast(Self.condMacro)
        monitor.broadcast(Self.condTimer)
        flush(&sec)
        monitor.unlock()
        let writer = MsgPackWriter()
        if canceled + terminated > 0 {
            host.log(.info, "action engine stopping: \(canceled) canceled, \(terminated) terminated")
        }
        publish(&sec, writer)
        // Workers finish the tasks queued so far (drains included), then exit.
        let list = lifecycle.withLock { () -> [JoinableThread] in
            defer { threadList.removeAll() }
            return threadList
        }
        for t in list { t.join() }
        // Without started threads, queued drains are left to this thread.
        monitor.lock()
        var leftovers: [Job] = []
        while let task = unitTasks.pop() {
            if case .drain(let job) = task { leftovers.append(job) }
        }
        while macroTasks.pop() != nil {}
        monitor.unlock()
        for job in leftovers { drain(job, writer) }
        // Publishers on RPC threads (PENDING of a racing call, terminate, kill).
        monitor.lock()
        while publishers > 0, MonotonicClock.now() < deadline {
            monitor.wait(Self.condIdle, untilNanoseconds: deadline)
        }
        let stuck = publishers
        monitor.unlock()
        if stuck > 0 {
            host.log(.error, "action engine: \(stuck) publisher(s) still busy at the shutdown deadline")
        }
    }
}

/// Packs a uuid as bin 8 of 16 bytes, without allocating.
private func packUUID(_ uuid: ActionUUID, _ writer: MsgPackWriter) {
    withUnsafeTemporaryAllocation(byteCount: 18, alignment: 8) { buf in
        buf[0] = 0xC4
        buf[1] = 16
        for i in 0..<8 {
            buf[2 + i] = UInt8(truncatingIfNeeded: uuid.hi >> (56 - 8 * UInt64(i)))
            buf[10 + i] = UInt8(truncatingIfNeeded: uuid.lo >> (56 - 8 * UInt64(i)))
        }
        writer.packRaw(UnsafeRawBufferPointer(buf))
    }
}

/// Replaces every string that is exactly `$n` or `$name` (keys too).
func substitute(_ v: MsgPackValue, args: [MsgPackValue], kwargs: MsgPackMap, missing: inout ArgumentRef?) -> MsgPackValue {
    switch v {
    case .string(let s):
        guard let ref = ArgumentRef(s) else { return v }
        switch ref {
        case .positional(let n):
            if n >= 1, n <= args.count { return args[n - 1] }
        case .named(let name):
            if let value = kwargs[name] { return value }
        }
        if missing == nil { missing = ref }
        return .nil
    case .array(let a):
        return .array(a.map { substitute($0, args: args, kwargs: kwargs, missing: &missing) })
    case .map(let m):
        return .map(MsgPackMap(m.entries.map {
            (key: substitute($0.key, args: args, kwargs: kwargs, missing: &missing),
             value: substitute($0.value, args: args, kwargs: kwargs, missing: &missing))
        }))
    default:
        return v
    }
}

func statusName(_ s: ActionStatus) -> String {
    switch s {
    case .created: "created"
    case .accepted: "accepted"
    case .pending: "pending"
    case .running: "running"
    case .completed: "completed"
    case .failed: "failed"
    case .canceled: "canceled"
    case .terminated: "terminated"
    }
}
