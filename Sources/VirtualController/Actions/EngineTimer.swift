import EAPI

/// The timer thread: one deadline heap for action times, timeouts and macro
/// sleeps.
extension EngineCore {
    /// The timer thread: fires due timers (lock held while deciding; anything
    /// that may block goes to the workers).
    func timerLoop() {
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

    func fire(_ job: Job, now: UInt64, _ sec: inout Section) {
        switch job.phase {
        case .waiting:
            if now >= job.deadline {
                let what = job.unit != nil ? "timed out waiting in the unit queue" : "timed out waiting for a macro worker"
                end(job, ActionEvent(status: .failed, err: what, exitcode: 1), &sec)
            } else if job.deadline != UInt64.max {
                timers.set(job, at: job.deadline)
            }
        case .running:
            if job.unit != nil {
                if job.completeAt <= now, job.completeAt <= job.deadline {
                    pushUnitTask(.finish(job))
                } else if now >= job.deadline {
                    end(job, ActionEvent(status: .failed, err: "action timeout", exitcode: Int64(EAPIErrorCode.timeout.rawValue)), &sec)
                } else {
                    timers.set(job, at: min(job.completeAt, job.deadline))
                }
            } else {
                if now >= job.deadline {
                    end(job, ActionEvent(status: .failed, err: "action timeout", exitcode: Int64(EAPIErrorCode.timeout.rawValue)), &sec)
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
}
