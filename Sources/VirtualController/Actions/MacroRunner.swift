import EAPI

/// Lmacro runs on the macro workers: steps in order, with the lock released
/// while a step runs.
extension EngineCore {

    enum StepOutcome {
        case next
        /// A step went wrong: FAILED, the text prefixed with the step.
        case fail(String)
        /// A `fail` step: FAILED with exactly this text.
        case failed(String)
        case sleep(UInt64)
        case action(OID, MsgPackValue)
    }

    func runMacro(_ job: Job, _ writer: MsgPackWriter) {
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
            if pc >= steps.count {
                finishRun(job, ActionEvent(status: .completed, out: output, exitcode: 0), writer)
                return
            }
            let outcome = execute(steps[pc], of: job, output: &output)
            switch outcome {
            case .next:
                pc += 1
                guard saveProgress(job, pc: pc, output: output) else { return }
                monitor.unlock()
            case .fail(let text), .failed(let text):
                let err: String
                if case .failed = outcome { err = text } else { err = "step \(pc + 1) (\(steps[pc].name)): \(text)" }
                finishRun(job, ActionEvent(status: .failed, err: err, exitcode: 1), writer)
                return
            case .sleep(let ns):
                pc += 1
                guard saveProgress(job, pc: pc, output: output) else { return }
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
                    finishRun(job, ActionEvent(status: .failed, err: "step \(pc) (action): \(error)", exitcode: 1), writer)
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
                admit(child, writer, handOff: false) {
                    unit.waiting.push(child)
                    scheduleUnit(unit)
                }
                return
            }
        }
    }

    /// Saves a run's progress and returns true with `monitor` held; false,
    /// with it released, when the run has ended meanwhile.
    private func saveProgress(_ job: Job, pc: Int, output: MsgPackValue) -> Bool {
        monitor.lock()
        guard job.phase == .running else {
            monitor.unlock()
            return false
        }
        job.pc = pc
        job.output = output
        return true
    }

    /// Ends a run that is still running (lock released on entry and return).
    private func finishRun(_ job: Job, _ event: ActionEvent, _ writer: MsgPackWriter) {
        var sec = Section()
        monitor.lock()
        if job.phase == .running { end(job, event, &sec) }
        flush(&sec)
        monitor.unlock()
        publish(&sec, writer)
    }

    /// Runs one step with the lock released.
    func execute(_ step: MacroStep, of job: Job, output: inout MsgPackValue) -> StepOutcome {
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
