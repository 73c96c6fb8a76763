import CEvaFFI
import EAPI
import Synchronization

/// The launcher's op function, as `eva_svc_set_op_fn` receives it.
public typealias FFIOpFunction = @convention(c) (Int16, UnsafeMutablePointer<EvaFFIBuffer>?) -> Int32

/// The op function pointer, stored atomically: the launcher sets it once,
/// but the library's own threads read it at any time.
public final class OpFunctionSlot: Sendable {
    /// The pointer's bits (0 = none): pointers are not Sendable, integers are.
    private let bits = Atomic<UInt>(0)

    public init() {}

    public func store(_ fn: FFIOpFunction?) {
        bits.store(fn.map { unsafeBitCast($0, to: UInt.self) } ?? 0, ordering: .releasing)
    }

    public var isSet: Bool { bits.load(ordering: .acquiring) != 0 }

    /// Calls the op function; NOT_READY when none is set, as the ABI text
    /// recommends.
    @inline(__always)
    public func call(_ op: Int16, _ buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int32 {
        let p = bits.load(ordering: .acquiring)
        guard p != 0 else { return Int32(EAPIErrorCode.notReady.rawValue) }
        return unsafeBitCast(p, to: FFIOpFunction.self)(op, buffer)
    }
}

/// Op codes (int16) of ABI version 1.
public enum FFIOp {
    public static let isActive = Int16(EVA_FFI_SVC_OP_IS_ACTIVE)
    public static let subscribe = Int16(EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC)
    public static let unsubscribe = Int16(EVA_FFI_SVC_OP_UNSUBSCRIBE_TOPIC)
    public static let publish = Int16(EVA_FFI_SVC_OP_PUBLISH_TOPIC)
    public static let rpcCall = Int16(EVA_FFI_SVC_OP_RPC_CALL)
    public static let getRPCResult = Int16(EVA_FFI_SVC_OP_GET_RPC_RESULT)
    public static let terminate = Int16(EVA_FFI_SVC_OP_TERMINATE)
    public static let poc = Int16(EVA_FFI_SVC_OP_POC)

    public static func log(_ level: LogLevel) -> Int16? {
        switch level {
        case .trace: Int16(EVA_FFI_SVC_OP_LOG_TRACE)
        case .debug: Int16(EVA_FFI_SVC_OP_LOG_DEBUG)
        case .info: Int16(EVA_FFI_SVC_OP_LOG_INFO)
        case .warn: Int16(EVA_FFI_SVC_OP_LOG_WARN)
        case .error: Int16(EVA_FFI_SVC_OP_LOG_ERROR)
        case .off: nil
        }
    }
}
