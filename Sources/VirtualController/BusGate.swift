import EAPI
import Synchronization

/// Where the controller's own thread makes its bus calls (RPC_CALL: the
/// registry, `eva.core test`), so that a lifecycle callback never waits for
/// one.
///
/// On a one-thread launcher (EVA ICS 4.2, `workers` <= 1) an RPC_CALL only
/// completes while no lifecycle callback runs: one made during
/// `svc_terminate` returns after it. So `svc_terminate` must not wait for a
/// thread inside a call, and the thread must not start one once the stop
/// has begun. The gate records both: `inCall` while a call is out, and
/// `stopping` (after which no call starts). The launcher turns IS_ACTIVE
/// off before it calls `svc_terminate`: checked right before each call, it
/// narrows the window in which a call could still start to microseconds.
final class BusGate: Sendable {
    enum Outcome<Reply> {
        case reply(Reply)
        case failed(EAPIError)
        /// Not made: the controller is stopping.
        case skipped
    }

    let host: any ServiceHost
    /// Guards the flags below for waiters; the flags are atomics so that
    /// the thread's hot checks take no lock.
    let signal = Condition()
    private let stoppingFlag = Atomic<Bool>(false)
    private let inCallFlag = Atomic<Bool>(false)

    /// The stop waits for a call in progress (a multi-thread launcher).
    let stopWaitsForCalls: Bool

    init(host: any ServiceHost, stopWaitsForCalls: Bool) {
        self.host = host
        self.stopWaitsForCalls = stopWaitsForCalls
    }

    var isStopping: Bool { stoppingFlag.load(ordering: .sequentiallyConsistent) }
    var isInCall: Bool { inCallFlag.load(ordering: .sequentiallyConsistent) }

    /// From here on no call starts; wakes whoever waits on `signal`.
    func stop() {
        signal.withLock {
            stoppingFlag.store(true, ordering: .sequentiallyConsistent)
            signal.broadcast()
        }
    }

    func call(target: String, method: String, params: [UInt8]?) -> Outcome<[UInt8]?> {
        perform { host throws(EAPIError) in try host.call(target: target, method: method, params: params) }
    }

    /// Makes one bus call through the gate: `body` calls the host (an SDK
    /// call such as `coreActive()`, or a raw RPC call).
    func perform<Reply>(_ body: (any ServiceHost) throws(EAPIError) -> Reply) -> Outcome<Reply> {
        let started: Bool = signal.withLock {
            guard !isStopping else { return false }
            inCallFlag.store(true, ordering: .sequentiallyConsistent)
            return true
        }
        guard started else { return .skipped }
        defer {
            signal.withLock {
                inCallFlag.store(false, ordering: .sequentiallyConsistent)
                signal.broadcast()
            }
        }
        guard host.isActive else { return .skipped }
        let outcome: Outcome<Reply>
        do throws(EAPIError) {
            outcome = .reply(try body(host))
        } catch {
            outcome = .failed(error)
        }
        // The stop began meanwhile on a one-thread launcher: `svc_terminate`
        // did not wait for this call and may have returned already; the
        // caller must make no more op calls, not even a log.
        return isStopping && !stopWaitsForCalls ? .skipped : outcome
    }
}
