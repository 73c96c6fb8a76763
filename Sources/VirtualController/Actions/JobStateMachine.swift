import EAPI

/// What one locked section produced for the thread to do once unlocked:
/// jobs whose events this thread now publishes (with the events taken out of
/// their outboxes) and log lines.
struct Section {
    var claimed: [Job] = []
    var batches: [(job: Job, events: [ActionEvent])] = []
    var logs: [(LogLevel, String)] = []
}

/// Each job is a small state machine: waiting → running (→ finishing) → done,
/// moved only with `monitor` locked. The move to done happens once, in `end`,
/// which appends the terminal event; queues and the macro pool follow.
extension EngineCore {

    func append(_ job: Job, _ event: ActionEvent, _ sec: inout Section) {
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
    func end(_ job: Job, _ event: ActionEvent, rescheduleUnit: Bool = true, _ sec: inout Section) {
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
                sec.logs.append((.warn, "lmacro \(macro.definition.oid) run \(job.uuid) \(event.status)\(why)"))
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
                    end(parent, ActionEvent(status: .failed, err: "action step on \(oid) ended \(event.status)",
                                         exitcode: 1), &sec)
                }
            }
        }
    }

    func scheduleUnit(_ unit: UnitRecord) {
        guard unit.running == nil, !unit.scheduled, !unit.waiting.isEmpty else { return }
        unit.scheduled = true
        pushUnitTask(.startUnit(unit))
    }

    func pumpMacros(_ sec: inout Section) {
        guard !pumping, !stopping else { return }
        pumping = true
        defer { pumping = false }
        var now: UInt64 = 0
        while macroRunning < macroLimit, let job = macroWaiting.pop() {
            guard job.phase == .waiting else { continue }
            if job.deadline != UInt64.max {
                if now == 0 { now = MonotonicClock.now() }
                if now >= job.deadline {
                    end(job, ActionEvent(status: .failed, err: "timed out waiting for a macro worker", exitcode: 1), &sec)
                    continue
                }
            }
            job.phase = .running
            job.wait = .busy
            macroRunning += 1
            append(job, ActionEvent(status: .running), &sec)
            // The steps start once RUNNING is published, so that no step's
            // effect (a RAW state, a child action) goes out before it.
            job.firstStepWaits = true
        }
    }

    func pushUnitTask(_ task: EngineTask) {
        unitTasks.push(task)
        if idleUnitWorkers > unitWakeups {
            unitWakeups += 1
            monitor.signal(Self.condUnit)
        }
    }

    func pushMacroTask(_ task: EngineTask) {
        macroTasks.push(task)
        if idleMacroWorkers > macroWakeups {
            macroWakeups += 1
            monitor.signal(Self.condMacro)
        }
    }

    func setTimer(_ job: Job, at: UInt64) {
        timers.set(job, at: at)
        if timerSleeping, at < timerWakeAt {
            timerWakeAt = at
            monitor.signal(Self.condTimer)
        }
    }

    /// Takes the events of the jobs this section claimed (lock held).
    func flush(_ sec: inout Section) {
        guard !sec.claimed.isEmpty else { return }
        for job in sec.claimed {
            var events: [ActionEvent] = []
            swap(&events, &job.outbox)
            sec.batches.append((job, events))
        }
        sec.claimed.removeAll()
    }
}
