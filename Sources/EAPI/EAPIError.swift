/// The EAPI error codes (int16), as the ABI and the bus use them.
public enum EAPIErrorCode: Int16, Sendable, CaseIterable {
    case notFound = -32001
    case accessDenied = -32002
    case systemError = -32003
    case other = -32004
    case notReady = -32005
    case unsupported = -32006
    case coreError = -32007
    case timeout = -32008
    case invalidData = -32009
    case funcFailed = -32010
    case aborted = -32011
    case alreadyExists = -32012
    case busy = -32013
    case methodNotImplemented = -32014
    case tokenRestricted = -32015
    case io = -32016
    case registry = -32017
    case evahiAuthRequired = -32018
    case accessDeniedMoreDataRequired = -32022
    case parse = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalRPC = -32603
    case busClientNotRegistered = -32113
    case busData = -32114
    case busIO = -32115
    case busOther = -32116
    case busNotSupported = -32117
    case busBusy = -32118
    case busNotDelivered = -32119
    case busTimeout = -32120
    case busAccess = -32121
}

/// An EAPI error: a code that crosses the ABI, and a message for the logs.
public struct EAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The raw code; kept raw because a peer may answer with a code this
    /// version does not name.
    public let rawCode: Int16
    public let message: String
    /// The level the FFI runtime logs this error at when a call or frame
    /// handler throws it; nil: the host's level for its code (see
    /// `EAPIErrorCode.isRefusal`). Set it with `logged(at:)`.
    public var logLevel: LogLevel?

    public init(_ code: EAPIErrorCode, _ message: String = "") {
        self.rawCode = code.rawValue
        self.message = message
    }

    public init(rawCode: Int16, _ message: String = "") {
        self.rawCode = rawCode
        self.message = message
    }

    public var code: EAPIErrorCode? { EAPIErrorCode(rawValue: rawCode) }

    public var description: String {
        let name = code.map { "\($0)" } ?? "code \(rawCode)"
        return message.isEmpty ? name : "\(name): \(message)"
    }

    public static func == (lhs: EAPIError, rhs: EAPIError) -> Bool { lhs.rawCode == rhs.rawCode }

    public static func notFound(_ m: String = "") -> EAPIError { EAPIError(.notFound, m) }
    public static func notReady(_ m: String = "") -> EAPIError { EAPIError(.notReady, m) }
    public static func invalidParams(_ m: String = "") -> EAPIError { EAPIError(.invalidParams, m) }
    public static func invalidData(_ m: String = "") -> EAPIError { EAPIError(.invalidData, m) }
    public static func methodNotFound(_ m: String = "") -> EAPIError { EAPIError(.methodNotFound, m) }
    public static func busy(_ m: String = "") -> EAPIError { EAPIError(.busy, m) }
}
