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
    func start() -> Bool {
        thread.withLock { slot in
            if slot != nil { return true }
            slot = JoinableThread { [self] in run() }
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

    private func run() {
        let pullEvery = core.config.pull.isEmpty ? 0 : max(MonotonicClock.nanoseconds(seconds: core.config.pullInterval), 1)
        let persistEvery = MonotonicClock.nanoseconds(seconds: core.config.persistInterval)
        let start = MonotonicClock.now()
        var nextPull = pullEvery > 0 ? start : UInt64.max
        var nextPersist = persistEvery > 0 ? start &+ persistEvery : UInt64.max
        var pullState = PullState(targets: core.config.pull.count)
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
