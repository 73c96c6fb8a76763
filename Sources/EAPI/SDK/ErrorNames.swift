extension EAPIErrorCode {
    /// The name EVA ICS uses for the code (`NOT_FOUND`, `BUS_TIMEOUT`, ...).
    public var name: String {
        switch self {
        case .notFound: "NOT_FOUND"
        case .accessDenied: "ACCESS_DENIED"
        case .systemError: "SYSTEM_ERROR"
        case .other: "OTHER"
        case .notReady: "NOT_READY"
        case .unsupported: "UNSUPPORTED"
        case .coreError: "CORE_ERROR"
        case .timeout: "TIMEOUT"
        case .invalidData: "INVALID_DATA"
        case .funcFailed: "FUNC_FAILED"
        case .aborted: "ABORTED"
        case .alreadyExists: "ALREADY_EXISTS"
        case .busy: "BUSY"
        case .methodNotImplemented: "METHOD_NOT_IMPLEMENTED"
        case .tokenRestricted: "TOKEN_RESTRICTED"
        case .io: "IO"
        case .registry: "REGISTRY"
        case .evahiAuthRequired: "EVAHI_AUTH_REQUIRED"
        case .accessDeniedMoreDataRequired: "ACCESS_DENIED_MORE_DATA_REQUIRED"
        case .parse: "PARSE"
        case .invalidRequest: "INVALID_REQUEST"
        case .methodNotFound: "METHOD_NOT_FOUND"
        case .invalidParams: "INVALID_PARAMS"
        case .internalRPC: "INTERNAL_RPC"
        case .busClientNotRegistered: "BUS_CLIENT_NOT_REGISTERED"
        case .busData: "BUS_DATA"
        case .busIO: "BUS_IO"
        case .busOther: "BUS_OTHER"
        case .busNotSupported: "BUS_NOT_SUPPORTED"
        case .busBusy: "BUS_BUSY"
        case .busNotDelivered: "BUS_NOT_DELIVERED"
        case .busTimeout: "BUS_TIMEOUT"
        case .busAccess: "BUS_ACCESS"
        }
    }

    /// The code for an EVA ICS name (`"NOT_FOUND"`); nil for an unknown name.
    public init?(name: String) {
        guard let code = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = code
    }
}

extension EAPIError {
    /// `NOT_FOUND (-32001)`, or `code -12345` for a code EVA ICS does not name.
    public var name: String { code.map { "\($0.name) (\(rawCode))" } ?? "code \(rawCode)" }
}
