import EAPI

/// Events of jobs on `ACT/...`, published in order by the one thread that
/// holds a job's publishing right, always with `monitor` released.
extension EngineCore {

    /// Publishes what a section claimed, then whatever else those jobs queue
    /// meanwhile, and logs its lines. With `handOff` (an RPC thread) the
    /// events queued meanwhile go to a unit worker, so the call returns soon.
    func publish(_ sec: inout Section, _ writer: MsgPackWriter, handOff: Bool = false) {
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
    /// With `queueOn` (see `admitQueued`), the first locked section queues
    /// the job there, when it is still waiting: its PENDING is out by then.
    func drain(_ job: Job, _ writer: MsgPackWriter, handOff: Bool = false, queueOn: UnitRecord? = nil) {
        var queueOn = queueOn
        var batch: [ActionEvent] = []
        while true {
            monitor.lock()
            if let unit = queueOn {
                queueOn = nil
                if job.phase == .waiting, !stopping {
                    unit.waiting.push(job)
                    scheduleUnit(unit)
                }
            }
            if job.firstStepWaits, !job.outbox.contains(where: { $0.status == .running }) {
                // Everything taken from the outbox so far is published: RUNNING is out.
                job.firstStepWaits = false
                if job.phase == .running, !stopping { pushMacroTask(.step(job)) }
            }
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

    /// One event to `ACT/...` through the SDK (`publishActionEvent`: its
    /// encoding, its BUSY retry, 1 ms doubling to 50 ms, here until the
    /// shutdown deadline `giveUp` once a stop has set it). Which event goes
    /// out, and that a job has exactly one terminal event, the engine's
    /// state machine decides under its lock (see JobStateMachine.swift).
    func publish(_ job: Job, _ event: ActionEvent, _ writer: MsgPackWriter) {
        publish(uuid: job.uuid, topic: job.topic, event, writer)
    }

    /// One event `{uuid, status, out?, err?, exitcode?}` to `topic`.
    func publish(uuid: ActionUUID, topic: String, _ event: ActionEvent, _ writer: MsgPackWriter) {
        let outcome: EAPIError? = withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { buf in
            uuid.store(into: buf)
            do throws(EAPIError) {
                try host.publishActionEvent(event, uuid: UnsafeRawBufferPointer(buf), topic: topic, retry: busyRetry,
                                            writer: writer)
                return nil
            } catch { return error }
        }
        guard let error = outcome else { return }
        if error.code == .busy || error.code == .busBusy {
            host.log(.error, "bus busy past the shutdown deadline: \(event.status) of \(uuid) to \(topic) is lost")
        } else {
            host.log(.error, "unable to publish \(event.status) of \(uuid) to \(topic): \(error)")
        }
    }
}
