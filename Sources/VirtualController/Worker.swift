import EAPI
import Synchronization

/// The controller's own thread: pull cycles every `pull_interval`, and
/// write-throughs of changed variables every `persist_interval`. It sleeps
/// on a condition, so `stop()` wakes it at once.
final class Worker: Sendable {
    private let core: ControllerCore
    private let wake = Condition()
    private let stopping = Atomic<Bool>(false)
    private let thread = Guarded<JoinableThread?>(nil)

    init(core: ControllerCore) { self.core = core }

    /// Starts the thread (once). False when the system refused a thread.
    ///
    /// The first pull cycle runs here, before `launch` returns: the pulled
    /// items hold their variables' values for the first call after launch,
    /// rather than from whenever the new thread gets round to its first
    /// cycle (a race a caller could see as two different `list` replies).
    func start() -> Bool {
        if thread.withLock({ $0 != nil }) { return true }
        var first = PullState(targets: core.config.pull.count)
        let pulledAt = MonotonicClock.now()
        if !core.config.pull.isEmpty { core.pullCycle(&first) }
        let initial = first
        return thread.withLock { slot in
            if slot != nil { return true }
            slot = JoinableThread { [self] in run(pullState: initial, pulledAt: pulledAt) }
            return slot != nil
        }
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// Wakes the thread, makes it end, joins it. Idempotent.
    func stop() {
        wake.withLock {
            stopping.store(true, ordering: .sequentiallyConsistent)
            wake.broadcast()
        }
        let running = thread.withLock { slot -> JoinableThread? in
            defer { slot = nil }
            return slot
        }
        running?.join()
    }

    /// The thread: `pullState` after the first cycle, made at `pulledAt`.
    private func run(pullState initial: PullState, pulledAt: UInt64) {
        let pullEvery = core.config.pull.isEmpty ? 0 : max(MonotonicClock.nanoseconds(seconds: core.config.pullInterval), 1)
        let persistEvery = MonotonicClock.nanoseconds(seconds: core.config.persistInterval)
        let start = MonotonicClock.now()
        var nextPull = pullEvery > 0 ? pulledAt &+ pullEvery : UInt64.max
        var nextPersist = persistEvery > 0 ? start &+ persistEvery : UInt64.max
        var pullState = initial
        while true {
            let due = min(nextPull, nextPersist)
            wake.lock()
            while !isStopping, MonotonicClock.now() < due {
                if due == UInt64.max { wake.wait() } else { wake.wait(untilNanoseconds: due) }
            }
            let stop = isStopping
            wake.unlock()
            if stop { return }
            var now = MonotonicClock.now()
            if now >= nextPull {
                core.pullCycle(&pullState)
                now = MonotonicClock.now()
                nextPull &+= pullEvery
                // Fell behind (a slow cycle, a stalled bus): skip, do not burst.
                if nextPull <= now { nextPull = now &+ pullEvery }
            }
            if now >= nextPersist {
                core.persistIfChanged()
                nextPersist = MonotonicClock.now() &+ persistEvery
            }
        }
    }
}
