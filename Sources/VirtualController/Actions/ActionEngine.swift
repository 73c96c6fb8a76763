import EAPI

/// Unit actions and lmacro runs: queues, workers, events on `ACT/...`.
///
/// Threads (started by `start()`): a timer thread (deadline heap: action
/// times, timeouts, macro sleeps), a few unit workers (start actions, apply
/// completions, publish what the timer ended) and, when lmacros are
/// configured, a few macro workers (run steps). All state sits behind one lock;
/// each job is a small state machine whose move to a terminal state happens
/// once under that lock, and only the thread that makes it appends the
/// terminal event. Events of a job are published in order by whichever thread
/// holds the job's publishing right.
public final class ActionEngine: Sendable {
    let core: EngineCore

    /// Parses config keys `units`, `macros`, `macro_workers` (each nil when
    /// absent). A malformed value → INVALID_PARAMS naming the key.
    public init(units: MsgPackValue?, macros: MsgPackValue?, macroWorkers: MsgPackValue?,
                defaultWorkers: Int, host: any ServiceHost, effects: any ActionEffects) throws(EAPIError) {
        let config = try ActionConfig(units: units, macros: macros, macroWorkers: macroWorkers,
                                      defaultWorkers: defaultWorkers)
        core = EngineCore(config: config, host: host, effects: effects)
    }

    /// Unit OIDs named under `units` (the controller creates them as items).
    public var configuredUnits: [OID] { core.configuredUnits }

    /// `action` (payload nil when the call had none). A unit with a `units`
    /// entry queues the action and returns at once; any other item (a unit
    /// without an entry, a sensor, an lvar) is acted on here, as the
    /// shipped controller does, before the call returns.
    public func action(_ payload: MsgPackValue?) throws(EAPIError) {
        try submit(JobRequest(try ActionRequest(payload)))
    }

    /// `action` with the payload's bytes (nil: none): the usual payload is
    /// read without decoding it; the rest by the SDK's `ActionRequest`.
    func action(bytes payload: UnsafeRawBufferPointer?) throws(EAPIError) {
        if let payload, let req = JobRequest(fast: payload, isAction: true) {
            try submit(req)
            return
        }
        try submit(JobRequest(try ActionRequest(bytes: payload)))
    }

    private func submit(_ req: JobRequest) throws(EAPIError) {
        if core.hasSettings(req.oid) {
            try core.submitAction(req)
        } else {
            try core.actImmediately(req)
        }
    }

    /// `run`
    public func run(_ payload: MsgPackValue?) throws(EAPIError) {
        let req = JobRequest(try ActionRequest(payload, kind: .run))
        guard req.oid.kind == .lmacro, let macro = core.macros[req.oid.description] else {
            throw .notFound("lmacro \(req.oid) not found")
        }
        try core.submitRun(req, macro: macro)
    }

    /// `terminate` `{u}` or `{uuid}`
    public func terminate(_ payload: MsgPackValue?) throws(EAPIError) {
        try core.terminate(try parseTerminate(payload))
    }

    /// `kill` `{i}`
    public func kill(_ payload: MsgPackValue?) throws(EAPIError) {
        try core.kill(try parseKill(payload))
    }

    /// Starts the engine's threads (at `svc_launch`).
    public func start() { core.start() }

    /// Cancels waiting work, terminates running work (each gets its terminal
    /// event), joins every thread; returns before `deadline` (MonotonicClock ns).
    public func shutdown(deadline: UInt64) { core.shutdown(deadline: deadline) }
}
