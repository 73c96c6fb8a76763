#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// The controller's own thread, and the only one that makes bus calls
/// (RPC_CALL) on its own behalf. After `svc_launch` has returned it:
/// 1. loads the variables (registry `key_get` + journal, see
///    `VariablePersistence`); `var.*` answer NOT_READY until then, and
///    the pull cycle starts only after it;
/// 2. waits for the core (polls `eva.core test` every 0.1 s until
///    `active`, unless `core.active` was already true), then publishes
///    every item's state once (`publishFullState`);
/// 3. runs pull cycles every `pull_interval` (changes only) and
///    write-throughs every `persist_interval`.
/// It sleeps on a condition, so `stop` wakes it at once.
final class Worker: Sendable {
    struct Settings: Sendable {
        /// `initial.core.active`: no wait for the core.
        var coreActive: Bool
        /// Seconds between write-throughs (0: none).
        var persistInterval: Double
        /// Write the registry once more when stopping (see `stop`).
        var finalRegistryWrite: Bool
        /// `stop` waits for a bus call in progress (a multi-thread launcher).
        var stopWaitsForCalls: Bool
        /// Seconds between `eva.core test` polls.
        var corePollInterval: Double = 0.1
    }

    private let core: ControllerCore
    let bus: BusGate
    private let settings: Settings
    private let thread = Guarded<JoinableThread?>(nil)
    private let launchedFlag = Atomic<Bool>(false)
    private let finishedFlag = Atomic<Bool>(false)
    /// Set when the thread has published the full state (for tests).
    let fullStatePublished = Atomic<Bool>(false)

    init(core: ControllerCore, settings: Settings) {
        self.core = core
        self.settings = settings
        bus = BusGate(host: core.host, stopWaitsForCalls: settings.stopWaitsForCalls)
    }

    private var persistence: VariablePersistence { core.persistence }
    private var isStopping: Bool { bus.isStopping }

    /// Starts the thread (once). False when the system refused a thread.
    /// It makes no bus call before `launchReturned`.
    ///
    /// A provisional pull cycle runs here first, on the variables as they
    /// are before the load (the config's `vars`): no publication, no log,
    /// no bus call. So the pulled items hold those values from the first
    /// call after launch, rather than changing under a caller once the
    /// thread gets round to its first cycle; where the loaded variables
    /// differ, the thread's first cycle after the load corrects them (and
    /// the full state announces the result).
    func start() -> Bool {
        if !core.config.pull.isEmpty, !persistence.isLoaded {
            var provisional = PullState(targets: core.config.pull.count)
            core.pullCycle(&provisional, publish: false, log: false)
        }
        return thread.withLock { slot in
            if slot != nil { return true }
            slot = JoinableThread { [self] in
                run()
                bus.signal.withLock {
                    finishedFlag.store(true, ordering: .sequentiallyConsistent)
                    bus.signal.broadcast()
                }
            }
            return slot != nil
        }
    }

    /// Called as the last thing `launch` does.
    func launchReturned() {
        bus.signal.withLock {
            launchedFlag.store(true, ordering: .sequentiallyConsistent)
            bus.signal.broadcast()
        }
    }

    /// Makes the thread end and waits for it until `deadline`
    /// (MonotonicClock), except while it is inside a bus call and
    /// `stopWaitsForCalls` is false (a one-thread launcher: that call cannot end
    /// before `svc_terminate` returns). A thread not waited for is detached:
    /// it ends as soon as its call returns, with no more op calls. Returns
    /// true when the thread ended (or never ran).
    @discardableResult
    func stop(deadline: UInt64) -> Bool {
        let waitForCalls = settings.stopWaitsForCalls
        bus.stop()
        guard let running = thread.withLock({ $0 }) else {
            // Never launched (a launcher never stops a service it did not
            // launch; tests do): the last write, if any, from here.
            finish()
            return true
        }
        var ended = false
        bus.signal.lock()
        while true {
            if finishedFlag.load(ordering: .sequentiallyConsistent) {
                ended = true
                break
            }
            if !waitForCalls, bus.isInCall { break }
            if MonotonicClock.now() >= deadline { break }
            bus.signal.wait(untilNanoseconds: deadline)
        }
        bus.signal.unlock()
        thread.withLock { $0 = nil }
        if ended {
            running.join()
        } else {
            running.detach()
        }
        return ended
    }

    /// Sleeps until `due` (MonotonicClock; UInt64.max: until woken) or the
    /// stop. True when stopping.
    private func sleep(until due: UInt64) -> Bool {
        bus.signal.lock()
        defer { bus.signal.unlock() }
        while !isStopping, MonotonicClock.now() < due {
            if due == UInt64.max { bus.signal.wait() } else { bus.signal.wait(untilNanoseconds: due) }
        }
        return isStopping
    }

    private func run() {
        // However the thread ends, nobody waits for a load that will not come.
        defer { persistence.abandonLoad() }
        // No bus call while `svc_launch` runs: on a one-thread launcher it
        // would be served only once launch returned. The flag is raised as
        // launch's last step; a call made in the microseconds left is held
        // by the launcher until it returns (launch waits for nothing), so
        // the load starts at once: a `var.*` call waits for it.
        bus.signal.lock()
        while !isStopping, !launchedFlag.load(ordering: .sequentiallyConsistent) { bus.signal.wait() }
        bus.signal.unlock()
        // (Loaded already only where a test loaded the variables itself.)
        if isStopping { return finish() }
        guard persistence.load(bus: bus) else { return }
        if isStopping { return finish() }
        // The registry is behind the load's choice: catch it up now.
        if persistence.takeCatchUp() { persistence.writeThrough(bus: bus) }
        if isStopping { return finish() }

        let config = core.config
        let pullEvery = config.pull.isEmpty ? 0 : max(MonotonicClock.nanoseconds(seconds: config.pullInterval), 1)
        let persistEvery = MonotonicClock.nanoseconds(seconds: settings.persistInterval)
        let pollEvery = MonotonicClock.nanoseconds(seconds: settings.corePollInterval)
        var pullState = PullState(targets: config.pull.count)
        var now = MonotonicClock.now()
        // The first cycle now: the full state below carries its values.
        pullState.publishAll = false
        if pullEvery > 0 { core.pullCycle(&pullState, publish: false) }
        var nextPull = pullEvery > 0 ? now &+ pullEvery : UInt64.max
        var nextPersist = persistEvery > 0 ? now &+ persistEvery : UInt64.max
        var coreActive = settings.coreActive
        var fullStatePending = true
        var nextPoll = now
        var unknownLogged = false
        var waitLogged = false
        while true {
            if fullStatePending, !coreActive, MonotonicClock.now() >= nextPoll {
                // The SDK's poll (`coreActive`, the building block of
                // `waitForCore`), made through the gate: this loop has pulls,
                // write-throughs and the stop to serve between polls.
                let status = CoreStatus(bus.perform { host throws(EAPIError) in try host.coreActive() })
                if isStopping { return finish() }
                switch status {
                case .active:
                    coreActive = true
                case .inactive:
                    // said once the core answers inactive, not before the first
                    // poll: a core that is up already costs no log line
                    if !waitLogged {
                        waitLogged = true
                        core.host.log(.info, "waiting for the core to become active")
                    }
                case .unknown(let why):
                    if !unknownLogged {
                        unknownLogged = true
                        core.host.log(.warn, "eva.core test: \(why); polling on")
                    }
                }
                nextPoll = MonotonicClock.now() &+ pollEvery
            }
            if fullStatePending, coreActive {
                if core.publishFullState() {
                    fullStatePending = false
                    fullStatePublished.store(true, ordering: .sequentiallyConsistent)
                } else {
                    nextPoll = MonotonicClock.now() &+ pollEvery
                }
            }
            let due = min(nextPull, nextPersist, fullStatePending ? nextPoll : UInt64.max)
            if sleep(until: due) { return finish() }
            now = MonotonicClock.now()
            if now >= nextPull {
                // Until the full state is out, the cycle publishes nothing:
                // the core would drop it, and the full state carries it.
                core.pullCycle(&pullState, publish: !fullStatePending)
                now = MonotonicClock.now()
                nextPull &+= pullEvery
                // Fell behind (a slow cycle, a stalled bus): skip, do not burst.
                if nextPull <= now { nextPull = now &+ pullEvery }
            }
            if now >= nextPersist {
                persistence.writeThrough(bus: bus)
                if isStopping { return finish() }
                nextPersist = MonotonicClock.now() &+ persistEvery
            }
        }
    }

    /// The stop: where the registry may still be written (see
    /// `Settings.finalRegistryWrite`), one last write-through, retried a
    /// few times while the registry is busy. The gate refuses new calls
    /// once stopping, so this one goes to the host directly.
    private func finish() {
        guard settings.finalRegistryWrite, persistence.isLoaded else { return }
        let host = core.host
        var attempts = 0
        // Once `svc_terminate` has closed the persistence (it stopped
        // waiting for this thread), no more calls: it wrote the journal.
        while !persistence.writeThrough(call: { target, method, params in
            guard !persistence.isClosed else { return .skipped }
            do throws(EAPIError) { return .reply(try host.call(target: target, method: method, params: params)) } catch {
                return .failed(error)
            }
        }), attempts < 5, !persistence.isClosed {
            attempts += 1
            usleep(50_000)
        }
    }
}
