/// How a handler's error is classified and logged. A call answered with an
/// error code loses its text on the way (the ABI carries none), so the FFI
/// runtime logs it; these decide at which level.
extension EAPIErrorCode {
    /// An expected refusal: the call was turned down because of what the
    /// caller sent or asked for, or the service's state right now (bad
    /// params or data, no such item or method, access, already exists, not
    /// ready, busy). Logged at debug by default: a node sees them from every
    /// careless client. Every other code (FUNC_FAILED, IO, TIMEOUT,
    /// SYSTEM_ERROR, OTHER, CORE_ERROR, REGISTRY, ABORTED, INTERNAL_RPC, the
    /// BUS_* codes, and codes EVA ICS does not name) is a failure of the
    /// service: warn by default.
    public var isRefusal: Bool {
        switch self {
        case .invalidParams, .invalidData, .invalidRequest, .parse, .notFound, .methodNotFound,
             .methodNotImplemented, .unsupported, .accessDenied, .accessDeniedMoreDataRequired,
             .tokenRestricted, .evahiAuthRequired, .alreadyExists, .notReady, .busy:
            true
        default:
            false
        }
    }
}

extension EAPIError {
    /// The same error, logged at `level` (`.off`: not logged) when a handler
    /// throws it: `throw EAPIError.notFound("no \(oid)").logged(at: .info)`.
    public func logged(at level: LogLevel) -> EAPIError {
        var copy = self
        copy.logLevel = level
        return copy
    }

    /// Whatever a handler threw, as the EAPI error the launcher is answered
    /// with: an `EAPIError` as it is; any other error FUNC_FAILED, its text
    /// and type as the message.
    public init(converting error: any Error) {
        if let e = error as? EAPIError {
            self = e
        } else {
            self.init(.funcFailed, "\(error) (\(type(of: error)), not an EAPIError)")
        }
    }
}

/// The levels the FFI runtime logs handler errors at, when the error does
/// not carry its own (`EAPIError.logged(at:)`).
public struct ErrorLogLevels: Sendable, Equatable {
    /// For expected refusals (`EAPIErrorCode.isRefusal`): debug by default.
    public var refusal: LogLevel
    /// For every other error: warn by default.
    public var failure: LogLevel

    public init(refusal: LogLevel = .debug, failure: LogLevel = .warn) {
        self.refusal = refusal
        self.failure = failure
    }

    /// The level `error` is logged at.
    public func level(for error: EAPIError) -> LogLevel {
        error.logLevel ?? (error.code?.isRefusal == true ? refusal : failure)
    }
}
