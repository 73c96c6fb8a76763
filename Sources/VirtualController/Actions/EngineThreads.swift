#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI

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

/// The engine's threads: unit workers, macro workers (the timer is in
/// EngineTimer.swift), and the orderly stop of all of them.
extension EngineCore {

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

    func unitWorkerLoop() {
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

    func macroWorkerLoop() {
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

    func perform(_ task: EngineTask, _ writer: MsgPackWriter) {
        switch task {
        case .startUnit(let unit): runUnit(unit, writer)
        case .finish(let job): finishDue(job, writer)
        case .drain(let job): drain(job, writer)
        case .step(let job): runMacro(job, writer)
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
        giveUp.set(monotonicNanoseconds: left > margin ? deadline - margin : now)
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
