import EAPI

/// Unit actions on the unit workers: start, finish, apply.
extension EngineCore {

    /// Starts a unit's next actions; actions with no `action_time` are done
    /// here at once, up to a batch, so a long queue does not bounce between
    /// threads.
    func runUnit(_ unit: UnitRecord, _ writer: MsgPackWriter) {
        monitor.lock()
        unit.scheduled = false
        var budget = Self.unitBatch
        while budget > 0, unit.running == nil, let job = unit.waiting.pop() {
            guard job.phase == .waiting else { continue }
            budget -= 1
            var sec = Section()
            let now = MonotonicClock.now()
            if now >= job.deadline {
                end(job, ActionEvent(status: .failed, err: "timed out waiting in the unit queue", exitcode: 1),
                    rescheduleUnit: false, &sec)
                flush(&sec)
                monitor.unlock()
                publish(&sec, writer)
                monitor.lock()
                continue
            }
            job.phase = .running
            unit.running = job
            append(job, ActionEvent(status: .running), &sec)
            let time = unit.settings.actionTime
            if time == 0 {
                job.phase = .finishing
                timers.remove(job)
                // RUNNING goes out before the action's effects (its RAW state).
                if sec.claimed.count == 1, sec.claimed[0] === job {
                    // This thread claimed the job's publishing right: it keeps
                    // it through the effects, so COMPLETED needs no second claim.
                    sec.claimed.removeAll()
                    var events: [ActionEvent] = []
                    swap(&events, &job.outbox)
                    monitor.unlock()
                    for e in events { publish(job, e, writer) }
                    completeHoldingRight(job, writer)
                } else {
                    flush(&sec)
                    monitor.unlock()
                    publish(&sec, writer)
                    complete(job, sec: &sec, rescheduleUnit: false, writer)
                }
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
    func finishDue(_ job: Job, _ writer: MsgPackWriter) {
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

    /// `complete` for a job whose publishing right this thread holds (its
    /// RUNNING just went out): the terminal event joins the job's outbox and
    /// `drain` publishes it, then gives the right up; any other job the end
    /// touched (an lmacro run waiting for this action) is published after.
    func completeHoldingRight(_ job: Job, _ writer: MsgPackWriter) {
        var sec = Section()
        applyAndEnd(job, rescheduleUnit: false, &sec)
        for (level, line) in sec.logs { host.log(level, line) }
        sec.logs.removeAll()
        drain(job, writer)
        publish(&sec, writer)
    }

    /// Applies a finishing action (lock released) and ends it: the effects
    /// come first, then COMPLETED; or FAILED for a unit set to fail.
    func complete(_ job: Job, sec: inout Section, rescheduleUnit: Bool, _ writer: MsgPackWriter) {
        applyAndEnd(job, rescheduleUnit: rescheduleUnit, &sec)
        publish(&sec, writer)
    }

    /// The effects (lock released), then, under the lock, COMPLETED (or
    /// FAILED for a unit set to fail) into `sec`; publishing is the caller's.
    private func applyAndEnd(_ job: Job, rescheduleUnit: Bool, _ sec: inout Section) {
        let unit = job.unit!
        let settings = unit.settings
        if !settings.fail {
            effects.completeUnitAction(unit.oid, status: settings.status, value: job.value)
        }
        monitor.lock()
        let event = settings.fail
            ? ActionEvent(status: .failed, err: "the unit is set to fail", exitcode: 1)
            : ActionEvent(status: .completed, exitcode: 0)
        end(job, event, rescheduleUnit: rescheduleUnit, &sec)
        flush(&sec)
        monitor.unlock()
    }
}
