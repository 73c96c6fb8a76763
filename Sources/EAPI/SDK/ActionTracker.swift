import Synchronization

/// How a publish answered BUSY (the launcher's queue is full) is retried: a
/// pause of `initialPause` doubling up to `maxPause`, until the event goes
/// out, `stop` is raised, `giveUpAfter` seconds have passed, or `deadline`
/// (when given) has passed.
public struct BusyRetry: Sendable {
    public var initialPause: Double
    public var maxPause: Double
    public var giveUpAfter: Double
    public var stop: StopFlag?
    /// A give-up moment that may be set later, while retries run (e.g. at
    /// the start of a stop: retry until the shutdown deadline, no longer).
    public var deadline: RetryDeadline?

    public init(initialPause: Double = 0.001, maxPause: Double = 0.05, giveUpAfter: Double = 60, stop: StopFlag? = nil,
                deadline: RetryDeadline? = nil) {
        self.initialPause = initialPause
        self.maxPause = maxPause
        self.giveUpAfter = giveUpAfter
        self.stop = stop
        self.deadline = deadline
    }

    /// One try, no retry.
    public static let never = BusyRetry(giveUpAfter: 0)

    /// Runs `attempt` until it does not fail with BUSY / BUS_BUSY, or the
    /// retry is given up (then the last BUSY error is thrown). The first try
    /// is inlined into the caller: a publish that goes out costs no more
    /// than the publish itself (the hot paths of a controller use this).
    @inlinable
    public func run(_ attempt: () throws(EAPIError) -> Void) throws(EAPIError) {
        do throws(EAPIError) {
            return try attempt()
        } catch {
            try retry(after: error, attempt)
        }
    }

    /// The tries after a first one failed with `first`.
    @usableFromInline
    func retry(after first: EAPIError, _ attempt: () throws(EAPIError) -> Void) throws(EAPIError) {
        var error = first
        var pause = initialPause
        let giveUpAt = monotonicSeconds() + giveUpAfter
        while true {
            guard error.code == .busy || error.code == .busBusy else { throw error }
            let left = min(giveUpAt - monotonicSeconds(), deadline?.secondsLeft ?? .infinity)
            if left <= 0 || stop?.isRaised == true { throw error }
            if let stop { _ = stop.sleep(min(pause, left)) } else { sleepSeconds(min(pause, left)) }
            pause = min(pause * 2, maxPause)
            do throws(EAPIError) {
                return try attempt()
            } catch let next {
                error = next
            }
        }
    }
}

/// The events of one action on `ACT/<kind>/<path>`:
/// `{uuid, status, out?, err?, exitcode?}`.
///
/// Exactly one terminal event: the first of `completed`, `failed`,
/// `canceled`, `terminated` wins and any later one (from any thread) is
/// refused with ALREADY_EXISTS, so a race between finishing and a `kill`
/// cannot tell the core two endings. `pending` and `running` are refused
/// out of order or after the end. A publish answered BUSY is retried
/// (`BusyRetry`); when it still fails, the end is lost but stays claimed.
public final class ActionTracker: Sendable {
    public let uuid: [UInt8]
    public let oid: OID
    /// `ACT/<kind>/<group>/<id>`
    public let topic: String
    private let host: any ServiceHost
    private let retry: BusyRetry
    /// The last status claimed (`ActionStatus` raw value).
    private let claimed = Atomic<UInt8>(ActionStatus.created.rawValue)

    public init(uuid: [UInt8], oid: OID, host: any ServiceHost, retry: BusyRetry = BusyRetry()) {
        self.uuid = uuid
        self.oid = oid
        self.topic = "ACT/\(oid.path)"
        self.host = host
        self.retry = retry
    }

    public convenience init(_ request: ActionRequest, host: any ServiceHost, retry: BusyRetry = BusyRetry()) {
        self.init(uuid: request.uuid, oid: request.oid, host: host, retry: retry)
    }

    /// The last status claimed (published, or being published).
    public var status: ActionStatus { ActionStatus(rawValue: claimed.load(ordering: .acquiring)) ?? .created }
    public var isFinished: Bool { status.isTerminal }

    public func pending() throws(EAPIError) { try advance(.pending) }
    public func running() throws(EAPIError) { try advance(.running) }
    public func completed(out: MsgPackValue? = nil) throws(EAPIError) { try finish(.completed, out: out) }
    public func failed(err: String? = nil, exitcode: Int64? = nil) throws(EAPIError) {
        try finish(.failed, err: err, exitcode: exitcode)
    }
    public func canceled(err: String? = nil) throws(EAPIError) { try finish(.canceled, err: err) }
    public func terminated(err: String? = nil, exitcode: Int64? = nil) throws(EAPIError) {
        try finish(.terminated, err: err, exitcode: exitcode)
    }

    private func advance(_ next: ActionStatus) throws(EAPIError) {
        var current = claimed.load(ordering: .acquiring)
        while true {
            guard current < next.rawValue, !(ActionStatus(rawValue: current)?.isTerminal ?? true) else {
                let now = ActionStatus(rawValue: current).map { "\($0)" } ?? "\(current)"
                throw EAPIError(.invalidRequest, "action \(ActionRequest.text(uuid)): \(next) refused after \(now)")
            }
            let (swapped, found) = claimed.compareExchange(expected: current, desired: next.rawValue,
                                                           ordering: .acquiringAndReleasing)
            if swapped { break }
            current = found
        }
        try publish(next, out: nil, err: nil, exitcode: nil)
    }

    private func finish(_ end: ActionStatus, out: MsgPackValue? = nil, err: String? = nil,
                        exitcode: Int64? = nil) throws(EAPIError) {
        var current = claimed.load(ordering: .acquiring)
        while true {
            if let s = ActionStatus(rawValue: current), s.isTerminal {
                throw EAPIError(.alreadyExists, "action \(ActionRequest.text(uuid)) already ended (\(s)): \(end) refused")
            }
            let (swapped, found) = claimed.compareExchange(expected: current, desired: end.rawValue,
                                                           ordering: .acquiringAndReleasing)
            if swapped { break }
            current = found
        }
        try publish(end, out: out, err: err, exitcode: exitcode)
    }

    private func publish(_ status: ActionStatus, out: MsgPackValue?, err: String?, exitcode: Int64?) throws(EAPIError) {
        let event = ActionEvent(status: status, out: out, err: err, exitcode: exitcode)
        let host = self.host
        let topic = self.topic
        let retry = self.retry
        let result: Result<Void, EAPIError> = uuid.withUnsafeBytes { bytes in
            do throws(EAPIError) {
                return .success(try host.publishActionEvent(event, uuid: bytes, topic: topic, retry: retry,
                                                            writer: MsgPackWriter()))
            } catch { return .failure(error) }
        }
        try result.get()
    }
}
