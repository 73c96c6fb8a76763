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
    func drain(_ job: Job, _ writer: MsgPackWriter, handOff: Bool = false) {
        var batch: [JobEvent] = []
        while true {
            monitor.lock()
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

    /// One event to `ACT/...`; a BUSY bus is retried with a doubling pause
    /// (1 ms to 50 ms) until it takes the event or shutdown's deadline passes.
    func publish(_ job: Job, _ event: JobEvent, _ writer: MsgPackWriter) {
        publish(uuid: job.uuid, topic: job.topic, event, writer)
    }

    /// One event `{uuid, status, out?, err?, exitcode?}` to `topic`.
    func publish(uuid: ActionUUID, topic: String, _ event: JobEvent, _ writer: MsgPackWriter) {
        writer.reset()
        var n = 2
        if event.out != nil { n += 1 }
        if event.err != nil { n += 1 }
        if event.exitcode != nil { n += 1 }
        writer.packMapHeader(n)
        writer.packString("uuid")
        packUUID(uuid, writer)
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
                try host.publish(topic: topic, payload: writer.bytes)
                return
            } catch {
                guard error.code == .busy || error.code == .busBusy else {
                    host.log(.error, "unable to publish \(statusName(event.status)) of \(uuid) to \(topic): \(error)")
                    return
                }
                let now = MonotonicClock.now()
                let limit = giveUpAt.load(ordering: .acquiring)
                if now >= limit {
                    host.log(.error, "bus busy past the shutdown deadline: \(statusName(event.status)) of \(uuid) to \(topic) is lost")
                    return
                }
                sleepNanoseconds(min(pause, limit - now))
                pause = min(pause * 2, Self.busyBackoffMax)
            }
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
