#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Synchronization

/// The virtual controller: items, PLC-tag variables, the pull cycle,
/// bound state frames, persistence, and (through `ActionEngine`) unit
/// actions and lmacros. Plain Swift: the outside world is a `ServiceHost`.
///
/// Lifecycle: `init` (no bus) → `prepare` (bus; then ready) → `launch`
/// (threads) → `terminate`. Every method but `test`, `info` and `stop`
/// answers NOT_READY until `prepare` has finished, and `var.*` until the
/// variables are loaded (after launch, see `Worker`); once `terminate` has
/// begun, writes answer NOT_READY and reads still work. Calls that may
/// touch the host are counted in flight, and `terminate` waits for them,
/// so the host sees no call from the library after `terminate` returns.
///
/// No lifecycle callback makes a bus call (RPC_CALL) or waits for a thread
/// inside one, whatever `workers` is: on a one-thread launcher (EVA ICS
/// 4.2, `workers` <= 1) such a call never returns. The one exception is
/// noted in `terminate`.
public final class VirtualController: Sendable {
    private enum Phase: UInt8 {
        case created = 0, preparing, ready, stopping, stopped
    }

    private let host: any ServiceHost
    private let core: ControllerCore
    private let actions: ActionEngine
    private let worker: Worker
    private let phase = Atomic<UInt8>(Phase.created.rawValue)
    /// Calls and frames past the phase check that may still call the host.
    private let inFlight = Atomic<Int>(0)
    private let prepared = Atomic<Bool>(false)
    private let launched = Atomic<Bool>(false)
    private let shutdownBudget: UInt64
    private let failMode: Bool
    private let reactToFail: Bool
    /// `workers` >= 2: a multi-thread launcher, where the stop may call the bus.
    private let multiThread: Bool
    /// What a stop or crash may lose, logged at prepare (nil: nothing to say).
    private let persistenceWarning: String?
    /// How long a `var.*` call made before the load waits for it before
    /// answering NOT_READY (nanoseconds).
    let variableLoadWait = Atomic<UInt64>(0)

    public init(initial: InitialPayload, host: any ServiceHost) throws(EAPIError) {
        let config = try ControllerConfig(initial.config)
        self.host = host
        let core = ControllerCore(config: config, serviceID: initial.id, host: host, dataPath: initial.dataPath)
        let engine = try ActionEngine(
            units: config.units, macros: config.macros, macroWorkers: config.macroWorkers,
            defaultWorkers: max(1, Int(initial.workers)), host: host, effects: ControllerEffects(core: core))
        core.addConfiguredUnits(engine.configuredUnits)
        self.core = core
        self.actions = engine
        let multiThread = initial.workers >= 2
        self.multiThread = multiThread
        var persistInterval = config.persistInterval
        if initial.dataPath.isEmpty, !multiThread {
            // Neither the registry nor a journal can be written at a stop:
            // only the write-throughs keep anything, so they cannot be off.
            let effective = persistInterval > 0 ? persistInterval : Self.fallbackPersistInterval
            persistenceWarning = "workers: \(initial.workers) and no data_path (user nobody): the registry cannot be "
                + "written at a stop on a one-thread launcher, and there is no folder for a journal; a stop or a crash "
                + "loses the variable changes of the last \(effective) s (persist_interval"
                + (persistInterval > 0 ? ")" : " 0 cannot mean \"at stop only\" here: using \(effective) s)")
                + "; run with workers: 2, or as a user with a data_path, to lose nothing at a stop"
            persistInterval = effective
        } else {
            persistenceWarning = nil
        }
        self.worker = Worker(core: core, settings: Worker.Settings(
            coreActive: initial.core.active, persistInterval: persistInterval,
            // A registry call from the stop cannot hang a multi-thread
            // launcher: the stop leaves the registry whole, as the shipped
            // controller's does (see `terminate`).
            finalRegistryWrite: multiThread,
            stopWaitsForCalls: multiThread))
        shutdownBudget = MonotonicClock.nanoseconds(seconds: initial.timeout.shutdown)
        failMode = initial.failMode
        reactToFail = initial.reactToFail
        // Long enough for one registry call that times out, not longer
        // (InitialPayload refuses a negative timeout; max keeps this safe).
        variableLoadWait.store(MonotonicClock.nanoseconds(seconds: min(2, max(0, initial.timeout.default) + 0.5)),
                               ordering: .relaxed)
    }

    /// The write-through interval where `persist_interval` 0 ("at stop
    /// only") cannot be honoured: the default.
    static let fallbackPersistInterval = 5.0

    public static let info = ServiceInfo(
        author: "EVA ICS virtual controller (Swift FFI)",
        version: "0.1.0",
        description: "Virtual controller: items, PLC-tag variables, simulated unit actions and lmacros",
        methods: [
            .init("test", "tests the service"),
            .init("info", "service info"),
            .init("stop", "stops the service"),
            .init("list", "lists the items and their states"),
            .init("get", "gets the state of an item", params: [("i", true)]),
            .init("set", "sets the state of an item", params: [("i", true), ("status", false), ("value", false)]),
            .init("var.get", "gets a variable (PLC tag: name, name[n], name[a-b], name[a-], name[-b])",
                  params: [("i", true)]),
            .init("var.set", "sets a variable (PLC tag)", params: [("i", true), ("value", true)]),
            .init("var.set_bulk", "sets several variables", params: [("i", true), ("values", true)]),
            .init("var.destroy", "destroys a variable", params: [("i", true)]),
            .init("var.list", "lists the variables", params: [("full", false)]),
            .init("action", "executes a unit action",
                  params: [("uuid", true), ("i", true), ("timeout", false), ("priority", false),
                           ("params", true), ("config", false)]),
            .init("run", "runs an lmacro",
                  params: [("uuid", true), ("i", true), ("timeout", false), ("priority", false),
                           ("params", false), ("config", false)]),
            .init("terminate", "terminates an action or run", params: [("u", true)]),
            .init("kill", "cancels and terminates every action or run of an item", params: [("i", true)]),
        ])

    private static let infoBytes: [UInt8] = info.value.encoded()

    private var currentPhase: Phase { Phase(rawValue: phase.load(ordering: .sequentiallyConsistent))! }

    // MARK: Lifecycle

    /// The bus works now: load the variables, subscribe for `bind`, apply
    /// fail mode; then answer calls.
    public func prepare() throws(EAPIError) {
        let (swapped, _) = phase.compareExchange(
            expected: Phase.created.rawValue, desired: Phase.preparing.rawValue, ordering: .sequentiallyConsistent)
        guard swapped else { return }
        // The variables load after launch, from the controller's thread
        // (a registry call here would hang a one-thread launcher).
        if let persistenceWarning { host.log(.warn, persistenceWarning) }
        let topics = core.bindTopics
        if !topics.isEmpty {
            // A full launcher queue (BUSY) is retried every 10 ms for 0.5 s.
            do throws(EAPIError) {
                try BusyRetry(initialPause: 0.01, maxPause: 0.01, giveUpAfter: 0.5).run { () throws(EAPIError) in
                    try host.subscribe(topics)
                }
            } catch {
                phase.store(Phase.created.rawValue, ordering: .sequentiallyConsistent)
                throw EAPIError(rawCode: error.rawCode, "cannot subscribe for bind: \(error.message)")
            }
        }
        if failMode {
            if reactToFail {
                host.log(.warn, "fail mode: every configured item gets status -1")
                core.markConfiguredFailed()
            } else {
                host.log(.warn, "started in fail mode (react_to_fail is off)")
            }
        }
        prepared.store(true, ordering: .sequentiallyConsistent)
        let (ready, _) = phase.compareExchange(
            expected: Phase.preparing.rawValue, desired: Phase.ready.rawValue, ordering: .sequentiallyConsistent)
        if ready { host.log(.info, "virtual controller ready") }
    }

    /// Starts the controller's threads: the worker (variables, core wait,
    /// pull, persistence) and the action engine. Waits for none of them.
    public func launch() throws(EAPIError) {
        guard currentPhase.rawValue < Phase.stopping.rawValue else { return }
        guard !launched.exchange(true, ordering: .sequentiallyConsistent) else { return }
        guard worker.start() else { throw EAPIError(.systemError, "cannot start the controller thread") }
        actions.start()
        worker.launchReturned()
    }

    /// Loads the variables on the calling thread, as the worker does after
    /// launch (tests that work on variables without launching).
    func loadVariablesNow() {
        _ = core.persistence.load(bus: worker.bus)
    }

    /// The controller's thread is inside a bus call (tests).
    var isInBusCall: Bool { worker.bus.isInCall }

    /// The worker has published every item's state, so its start-up work
    /// (load, catch-up, first pull, full state) is done (tests; the fuzz
    /// targets wait for it after each start, see fuzz/Sources/FuzzKit).
    public var fullStatePublished: Bool { worker.fullStatePublished.load(ordering: .sequentiallyConsistent) }

    /// Stops everything the library runs, persists the variables, and
    /// returns within `timeout.shutdown`. No host calls after it returns.
    public func terminate() {
        var previous = phase.load(ordering: .sequentiallyConsistent)
        while true {
            guard previous < Phase.stopping.rawValue else { return }
            let (swapped, found) = phase.compareExchange(
                expected: previous, desired: Phase.stopping.rawValue, ordering: .sequentiallyConsistent)
            if swapped { break }
            previous = found
        }
        let start = MonotonicClock.now()
        let budget = max(shutdownBudget / 10 * 9, 1_000_000)
        // Calls already past the phase check finish first (they are short:
        // no call blocks on the bus).
        let drainBy = start &+ budget / 5
        while inFlight.load(ordering: .sequentiallyConsistent) > 0, MonotonicClock.now() < drainBy {
            usleep(100)
        }
        actions.shutdown(deadline: start &+ budget / 10 * 7)
        // The worker ends; on a one-thread launcher it is not waited for
        // while inside a bus call (that call returns only after this
        // callback). The one bus call a stop may cause: with workers >= 2
        // the worker writes the registry once more before it ends (so a
        // switch to another controller right after the stop loses
        // nothing), and this waits for it, within the shutdown budget. A
        // multi-thread launcher serves the call meanwhile, so it cannot
        // hang.
        worker.stop(deadline: start &+ budget / 10 * 9)
        // The journal (file I/O only): nothing set before the stop is lost
        // where there is a data_path.
        if core.persistence.close() {
            host.log(.warn, "variable changes since the last write-through are not persisted: "
                + (core.persistence.journal != nil
                    ? "the journal could not be written (see the error above)"
                    : multiThread ? "no data_path, and the registry could not be written at the stop"
                    : "no data_path, and the registry cannot be written at a stop with workers: 1"))
        }
        phase.store(Phase.stopped.rawValue, ordering: .sequentiallyConsistent)
    }

    // MARK: Calls and frames

    /// One RPC call; the reply goes to `reply` (left empty: no payload).
    public func handleCall(method: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer?,
                           reply: MsgPackWriter) throws(EAPIError) {
        guard let method = Method(bytes: method) else { throw .methodNotFound("unknown method") }
        switch method {
        case .test:
            return
        case .info:
            Self.infoBytes.withUnsafeBytes { reply.packRaw($0) }
            return
        default:
            break
        }
        if method.isVariable, !core.persistence.isLoaded {
            // Loaded from the worker right after launch: a call in between
            // waits for it a little (a pool thread, never the launcher's),
            // then answers NOT_READY.
            guard currentPhase.rawValue >= Phase.ready.rawValue,
                  core.persistence.waitLoaded(
                    until: MonotonicClock.now() &+ variableLoadWait.load(ordering: .relaxed))
            else { throw .notReady("the variables are not loaded yet") }
        }
        if method.isRead {
            // Reads never call the host: no in-flight count needed.
            guard currentPhase.rawValue >= Phase.ready.rawValue else { throw .notReady() }
            switch method {
            case .get: try core.get(payload, reply: reply)
            case .list: try core.list(payload, reply: reply)
            case .varGet: try core.varGet(payload, reply: reply)
            default: try core.varList(payload, reply: reply)
            }
            return
        }
        inFlight.add(1, ordering: .sequentiallyConsistent)
        defer { inFlight.subtract(1, ordering: .sequentiallyConsistent) }
        let now = currentPhase
        if method == .stop {
            if now.rawValue < Phase.stopping.rawValue { host.terminate() }
            return
        }
        guard now == .ready else { throw .notReady() }
        switch method {
        case .set: try core.set(payload)
        case .varSet: try core.varSet(payload)
        case .varSetBulk: try core.varSetBulk(payload, reply: reply)
        case .varDestroy: try core.varDestroy(payload)
        case .action: try actions.action(bytes: payload)
        case .run: try actions.run(try Params.value(payload))
        case .terminate: try actions.terminate(try Params.value(payload))
        case .kill: try actions.kill(try Params.value(payload))
        default: throw .methodNotFound("unknown method")
        }
    }

    /// A bus frame: a state event of a bound item sets its variables;
    /// anything else is ignored. Never throws, never crashes.
    public func handleFrame(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        inFlight.add(1, ordering: .sequentiallyConsistent)
        defer { inFlight.subtract(1, ordering: .sequentiallyConsistent) }
        guard currentPhase == .ready else { return }
        core.handleStateFrame(topic: topic, payload: payload)
    }
}

extension Method {
    /// The `var.*` methods: NOT_READY until the variables are loaded.
    var isVariable: Bool {
        switch self {
        case .varGet, .varSet, .varSetBulk, .varDestroy, .varList: true
        default: false
        }
    }
}
