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
/// answers NOT_READY until `prepare` has finished; once `terminate` has
/// begun, writes answer NOT_READY and reads still work. Calls that may
/// touch the host are counted in flight, and `terminate` waits for them,
/// so the host sees no call from the library after `terminate` returns.
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

    public init(initial: InitialPayload, host: any ServiceHost) throws(EAPIError) {
        let config = try ControllerConfig(initial.config)
        self.host = host
        let core = ControllerCore(config: config, serviceID: initial.id, host: host)
        let engine = try ActionEngine(
            units: config.units, macros: config.macros, macroWorkers: config.macroWorkers,
            defaultWorkers: max(1, Int(initial.workers)), host: host, effects: ControllerEffects(core: core))
        core.addConfiguredUnits(engine.configuredUnits)
        self.core = core
        self.actions = engine
        self.worker = Worker(core: core)
        shutdownBudget = MonotonicClock.nanoseconds(seconds: initial.timeout.shutdown)
        failMode = initial.failMode
        reactToFail = initial.reactToFail
    }

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
        core.loadVariables()
        let topics = core.bindTopics
        if !topics.isEmpty {
            var attempts = 0
            while true {
                do {
                    try host.subscribe(topics)
                    break
                } catch {
                    if error.code == .busy, attempts < 50 {
                        attempts += 1
                        usleep(10_000)
                        continue
                    }
                    phase.store(Phase.created.rawValue, ordering: .sequentiallyConsistent)
                    throw EAPIError(rawCode: error.rawCode, "cannot subscribe for bind: \(error.message)")
                }
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

    /// Starts the controller's threads: the pull / persist worker and the
    /// action engine.
    public func launch() throws(EAPIError) {
        guard currentPhase.rawValue < Phase.stopping.rawValue else { return }
        guard !launched.exchange(true, ordering: .sequentiallyConsistent) else { return }
        guard worker.start() else { throw EAPIError(.systemError, "cannot start the pull thread") }
        actions.start()
    }

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
        worker.stop()
        if prepared.load(ordering: .sequentiallyConsistent) {
            // The last chance to keep what was set: retry a busy registry
            // while the budget lasts.
            var attempts = 0
            while !core.persistIfChanged(), attempts < 5, MonotonicClock.now() &+ 100_000_000 < start &+ budget {
                attempts += 1
                usleep(50_000)
            }
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
