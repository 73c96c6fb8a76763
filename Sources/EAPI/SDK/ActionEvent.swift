#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// One event of an action, as published on `ACT/<kind>/<path>`:
/// `{uuid, status, out?, err?, exitcode?}`.
///
/// `ActionTracker` publishes these for one action and guarantees exactly one
/// terminal event. A service with its own action engine (its own locks and
/// state machine deciding the end, as the virtual controller has) publishes
/// them with `ServiceHost.publishActionEvent`: the same encoding and the
/// same BUSY retry, with the exactly-once rule left to the engine.
public struct ActionEvent: Sendable, Equatable {
    public var status: ActionStatus
    public var out: MsgPackValue?
    public var err: String?
    public var exitcode: Int64?

    public init(status: ActionStatus, out: MsgPackValue? = nil, err: String? = nil, exitcode: Int64? = nil) {
        self.status = status
        self.out = out
        self.err = err
        self.exitcode = exitcode
    }

    /// Appends `{uuid, status, out?, err?, exitcode?}` to `writer`; `uuid` is
    /// the action's 16 bytes (packed as bin).
    public func pack(uuid: UnsafeRawBufferPointer, into writer: MsgPackWriter) {
        writer.packMapHeader(2 + (out == nil ? 0 : 1) + (err == nil ? 0 : 1) + (exitcode == nil ? 0 : 1))
        if uuid.count == 16, let id = uuid.baseAddress {
            // The usual event: the keys' bytes (encoded once, below) and the
            // uuid copied in one reservation rather than packed piece by piece.
            let head = Self.uuidKeyAndBinHeader, statusKey = Self.statusKey
            let total = head.count + 16 + statusKey.count
            let out = writer.reserve(total)
            head.withUnsafeBytes { out.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            (out + head.count).copyMemory(from: id, byteCount: 16)
            statusKey.withUnsafeBytes { (out + head.count + 16).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            writer.commit(total)
        } else {
            writer.packString("uuid")
            writer.packBinary(uuid)
            writer.packString("status")
        }
        writer.packUInt(UInt64(status.rawValue))
        if let out {
            writer.packString("out")
            writer.pack(out)
        }
        if let err {
            writer.packString("err")
            writer.packString(err)
        }
        if let exitcode {
            Self.exitcodeKey.withUnsafeBytes { writer.packRaw($0) }
            writer.packInt(exitcode)
        }
    }

    /// `"uuid"` and the header of a 16-byte bin, as the writer encodes them.
    private static let uuidKeyAndBinHeader: [UInt8] = {
        let w = MsgPackWriter()
        w.packString("uuid")
        withUnsafeTemporaryAllocation(byteCount: 16, alignment: 1) { zeros in
            zeros.initializeMemory(as: UInt8.self, repeating: 0)
            w.packBinary(UnsafeRawBufferPointer(zeros))
        }
        return Array(w.bytes.dropLast(16))
    }()

    /// `"status"`, as the writer encodes it.
    private static let statusKey: [UInt8] = encodedKey("status")

    /// `"exitcode"`, as the writer encodes it.
    private static let exitcodeKey: [UInt8] = encodedKey("exitcode")

    private static func encodedKey(_ key: String) -> [UInt8] {
        let w = MsgPackWriter()
        w.packString(key)
        return Array(w.bytes)
    }
}

/// A moment after which `BusyRetry` gives up, that may be set (or moved)
/// while retries run: e.g. a service's shutdown deadline, set when the stop
/// begins, so events keep being retried until then and no longer. Not set:
/// no limit from it.
public final class RetryDeadline: Sendable {
    /// CLOCK_MONOTONIC nanoseconds; UInt64.max: not set.
    private let at = Atomic<UInt64>(UInt64.max)

    public init() {}

    /// Gives up at `nanoseconds` on CLOCK_MONOTONIC (the clock of
    /// `clock_gettime(CLOCK_MONOTONIC)`).
    public func set(monotonicNanoseconds nanoseconds: UInt64) { at.store(nanoseconds, ordering: .releasing) }

    /// Gives up `seconds` from now.
    public func set(secondsFromNow seconds: Double) {
        let ns = seconds.isFinite && seconds > 0 ? UInt64(min(seconds, 1e9) * 1e9) : 0
        set(monotonicNanoseconds: monotonicNanoseconds() &+ ns)
    }

    /// Seconds left (negative: passed; infinity: not set).
    var secondsLeft: Double {
        let deadline = at.load(ordering: .acquiring)
        guard deadline != UInt64.max else { return .infinity }
        let now = monotonicNanoseconds()
        return deadline >= now ? Double(deadline - now) / 1e9 : -Double(now - deadline) / 1e9
    }
}

extension ServiceHost {
    /// Publishes one action event to `topic` (`ACT/<kind>/<path>`), retrying
    /// BUSY as `retry` says. The payload is built in `writer` (reset first;
    /// pass one per thread to keep a hot path free of allocations).
    /// Thrown: the last error (BUSY when the retry gave up).
    public func publishActionEvent(_ event: ActionEvent, uuid: UnsafeRawBufferPointer, topic: String,
                                   retry: BusyRetry, writer: MsgPackWriter) throws(EAPIError) {
        writer.reset()
        event.pack(uuid: uuid, into: writer)
        try retry.run { () throws(EAPIError) in try publish(topic: topic, payload: writer.bytes) }
    }
}

extension ActionStatus: CustomStringConvertible {
    /// `pending`, `completed`, ... (for logs).
    public var description: String {
        switch self {
        case .created: "created"
        case .accepted: "accepted"
        case .pending: "pending"
        case .running: "running"
        case .completed: "completed"
        case .failed: "failed"
        case .canceled: "canceled"
        case .terminated: "terminated"
        }
    }
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
