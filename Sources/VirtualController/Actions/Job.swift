import EAPI

/// Where a job is in its life. Only `waiting` and `running` may move to a
/// terminal state; the move happens once, under the engine lock, and the
/// thread that makes it is the only one that appends the terminal event.
enum JobPhase {
    case waiting
    case running
    /// Claimed for completion: the effects are being applied outside the lock,
    /// the COMPLETED (or FAILED) event follows. Counts as ended for
    /// terminate, kill, timeouts and shutdown.
    case finishing
    case done
}

/// What a running lmacro waits for.
enum MacroWait {
    /// A `.step` task is queued, or a macro worker executes its steps.
    case busy
    case sleeping
    /// A unit action started by an `action` step.
    case child(Job)
}

/// A unit action or an lmacro run. Every mutable field is only touched with
/// the engine lock held (`EngineCore` owns all jobs), so the fields skip the
/// dynamic exclusivity check (`@exclusivity(unchecked)`): the lock already
/// rules out overlapping access, and the check cost a thread-local lookup
/// per access on the hot path.
final class Job {
    let seq: UInt64
    let uuid: ActionUUID
    let topic: String
    let priority: UInt8
    /// Absolute MonotonicClock deadline; `UInt64.max` when none.
    let deadline: UInt64
    /// Set for unit actions.
    let unit: UnitRecord?
    /// The action's `params.value`.
    let value: MsgPackValue
    /// Set for lmacro runs.
    let macro: MacroRecord?
    let args: [MsgPackValue]
    let kwargs: MsgPackMap

    @exclusivity(unchecked) var phase = JobPhase.waiting
    /// Events not yet published, oldest first (the SDK's `ActionEvent`).
    @exclusivity(unchecked) var outbox: [ActionEvent] = []
    /// A thread is publishing this job's events (only that one publishes).
    @exclusivity(unchecked) var publishing = false
    @exclusivity(unchecked) var terminalAppended = false

    /// Timer: when it fires, and the position in the timer heap (-1: none).
    @exclusivity(unchecked) var timerAt: UInt64 = 0
    @exclusivity(unchecked) var timerIndex = -1
    /// Unit actions: when the simulated work ends.
    @exclusivity(unchecked) var completeAt = UInt64.max

    // Lmacro runs.
    @exclusivity(unchecked) var pc = 0
    @exclusivity(unchecked) var output: MsgPackValue = .nil
    @exclusivity(unchecked) var wait = MacroWait.busy
    @exclusivity(unchecked) var sleepEnd = UInt64.max
    /// The run's first step waits until its RUNNING event is out (see `drain`).
    @exclusivity(unchecked) var firstStepWaits = false
    /// The run an `action` step belongs to.
    @exclusivity(unchecked) var parent: Job?

    init(seq: UInt64, uuid: ActionUUID, topic: String, priority: UInt8, deadline: UInt64,
         unit: UnitRecord?, value: MsgPackValue, macro: MacroRecord?,
         args: [MsgPackValue] = [], kwargs: MsgPackMap = MsgPackMap()) {
        self.seq = seq
        self.uuid = uuid
        self.topic = topic
        self.priority = priority
        self.deadline = deadline
        self.unit = unit
        self.value = value
        self.macro = macro
        self.args = args
        self.kwargs = kwargs
    }

    /// Order among waiting jobs: priority first, then arrival.
    var queueKey: UInt64 { UInt64(priority) << 56 | (seq & 0x00FF_FFFF_FFFF_FFFF) }

    var isLive: Bool { phase == .waiting || phase == .running }
}

/// A unit that has had actions: its queue and the action it runs.
final class UnitRecord {
    let oid: OID
    let topic: String
    let settings: UnitSettings
    @exclusivity(unchecked) var running: Job?
    /// Waiting actions; ended ones are dropped lazily when popped.
    @exclusivity(unchecked) var waiting = JobHeap()
    /// A `.startUnit` task is queued (or a worker is about to start one).
    @exclusivity(unchecked) var scheduled = false

    init(oid: OID, settings: UnitSettings) {
        self.oid = oid
        self.topic = "ACT/" + oid.path
        self.settings = settings
    }
}

/// A configured lmacro and its live runs.
final class MacroRecord {
    let definition: MacroDefinition
    let topic: String
    /// Waiting and running runs, by job seq.
    @exclusivity(unchecked) var live: [UInt64: Job] = [:]

    init(_ definition: MacroDefinition) {
        self.definition = definition
        self.topic = "ACT/" + definition.oid.path
    }
}

/// A binary min-heap of jobs by `queueKey` (priority, then arrival).
struct JobHeap {
    private(set) var items: [(key: UInt64, job: Job)] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func push(_ job: Job) {
        items.append((job.queueKey, job))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i].key < items[p].key else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> Job? {
        guard !items.isEmpty else { return nil }
        let top = items[0].job
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1
                guard l < n else { break }
                var m = l
                if l + 1 < n, items[l + 1].key < items[l].key { m = l + 1 }
                guard items[m].key < items[i].key else { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    mutating func removeAll() { items.removeAll() }
}

/// A min-heap of jobs by `timerAt` (then seq) that knows each job's position,
/// so a timer can be moved or removed when its job ends.
struct TimerHeap {
    private var items: [Job] = []

    var first: Job? { items.first }
    var count: Int { items.count }

    private static func less(_ a: Job, _ b: Job) -> Bool {
        a.timerAt != b.timerAt ? a.timerAt < b.timerAt : a.seq < b.seq
    }

    /// Arms or moves the job's timer.
    mutating func set(_ job: Job, at: UInt64) {
        if job.timerIndex >= 0 {
            job.timerAt = at
            let i = job.timerIndex
            siftUp(i)
            siftDown(job.timerIndex)
        } else {
            job.timerAt = at
            job.timerIndex = items.count
            items.append(job)
            siftUp(items.count - 1)
        }
    }

    mutating func remove(_ job: Job) {
        let i = job.timerIndex
        guard i >= 0 else { return }
        let last = items.count - 1
        if i != last {
            items.swapAt(i, last)
            items[i].timerIndex = i
        }
        items.removeLast()
        job.timerIndex = -1
        if i < items.count {
            let moved = items[i]
            siftUp(i)
            siftDown(moved.timerIndex)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.less(items[i], items[p]) else { break }
            items.swapAt(i, p)
            items[i].timerIndex = i
            items[p].timerIndex = p
            i = p
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = items.count
        while true {
            let l = 2 * i + 1
            guard l < n else { break }
            var m = l
            if l + 1 < n, Self.less(items[l + 1], items[l]) { m = l + 1 }
            guard Self.less(items[m], items[i]) else { break }
            items.swapAt(i, m)
            items[i].timerIndex = i
            items[m].timerIndex = m
            i = m
        }
    }
}

/// A FIFO queue with amortised O(1) pops.
struct Fifo<Element> {
    private var items: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }

    mutating func push(_ e: Element) { items.append(e) }

    mutating func pop() -> Element? {
        guard head < items.count else { return nil }
        let e = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return e
    }
}
