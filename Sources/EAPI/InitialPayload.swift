/// The initial payload a launcher hands a service at start.
///
/// Unknown keys are ignored (newer nodes add some); numbers are accepted in
/// any width, and a float field may arrive as an integer.
public struct InitialPayload: Sendable {
    public struct Timeouts: Sendable {
        public var startup: Double
        public var shutdown: Double
        public var `default`: Double
    }

    public struct Core: Sendable {
        public var build: Int64
        public var version: String
        public var eapiVersion: Int64
        public var path: String
        public var logLevel: LogLevel
        public var active: Bool
    }

    public struct Bus: Sendable {
        public var type: String
        public var path: String
        public var timeout: Double?
        public var bufTTL: Double?
        public var bufSize: Int64?
        public var queueSize: Int64?
        public var pingInterval: Double?
    }

    public var version: Int64
    public var systemName: String
    public var id: String
    public var command: String
    public var prepareCommand: String?
    public var dataPath: String
    public var timeout: Timeouts
    public var core: Core
    public var bus: Bus
    /// The service's own `config:`, as-is (an empty map when it has none).
    public var config: MsgPackValue
    public var workers: UInt32
    public var user: String
    public var reactToFail: Bool
    public var failMode: Bool
    public var fips: Bool
    public var callTracing: Bool

    public init(decoding bytes: UnsafeRawBufferPointer) throws(EAPIError) {
        try self.init(try MsgPackValue(decoding: bytes))
    }

    public init(_ value: MsgPackValue) throws(EAPIError) {
        guard case .map(let map) = value else { throw .invalidParams("the initial payload is not a map") }
        let reader = FieldReader(map: map, context: "initial")
        version = try reader.int("version", default: 4)
        systemName = try reader.string("system_name", default: "")
        id = try reader.requiredString("id")
        command = try reader.string("command", default: "")
        prepareCommand = try reader.optionalString("prepare_command")
        dataPath = try reader.string("data_path", default: "")
        let t = try reader.nested("timeout")
        let defaultTimeout = try t.seconds("default", default: 5)
        timeout = Timeouts(
            startup: try t.seconds("startup", default: defaultTimeout),
            shutdown: try t.seconds("shutdown", default: defaultTimeout),
            default: defaultTimeout)
        let c = try reader.nested("core")
        // the launcher sends `eapi_verion` (an old typo kept for compatibility)
        let eapiTypo = try c.int("eapi_verion", default: 1)
        let eapiVersion = try c.int("eapi_version", default: eapiTypo)
        core = Core(
            build: try c.int("build", default: 0),
            version: try c.string("version", default: ""),
            eapiVersion: eapiVersion,
            path: try c.string("path", default: ""),
            logLevel: LogLevel(clamping: try c.int("log_level", default: Int64(LogLevel.info.rawValue))),
            active: try c.bool("active", default: true))
        let b = try reader.nested("bus")
        bus = Bus(
            type: try b.string("type", default: "native"),
            path: try b.string("path", default: ""),
            timeout: try b.optionalDouble("timeout"),
            bufTTL: try b.optionalDouble("buf_ttl"),
            bufSize: try b.optionalInt("buf_size"),
            queueSize: try b.optionalInt("queue_size"),
            pingInterval: try b.optionalDouble("ping_interval"))
        let rawConfig = map["config"] ?? .nil
        config = rawConfig.isNil ? .map(MsgPackMap()) : rawConfig
        let w = try reader.int("workers", default: 1)
        guard w >= 0, w <= Int64(UInt32.max) else { throw .invalidParams("initial.workers out of range") }
        workers = UInt32(w)
        user = try reader.string("user", default: "")
        reactToFail = try reader.bool("react_to_fail", default: false)
        failMode = try reader.bool("fail_mode", default: false)
        fips = try reader.bool("fips", default: false)
        callTracing = try reader.bool("call_tracing", default: false)
    }
}

/// Reads typed fields of a map, naming the field in its error.
public struct FieldReader: Sendable {
    public let map: MsgPackMap
    public let context: String

    public init(map: MsgPackMap, context: String) {
        self.map = map
        self.context = context
    }

    /// Reads fields of `value`, which must be a map.
    public init(_ value: MsgPackValue, context: String) throws(EAPIError) {
        guard case .map(let m) = value else { throw .invalidParams("\(context) must be a map") }
        self.init(map: m, context: context)
    }

    func bad(_ key: String, _ expected: String) -> EAPIError {
        .invalidParams("\(context).\(key) must be \(expected)")
    }

    /// Absent and nil both count as missing for optional fields.
    func present(_ key: String) -> MsgPackValue? {
        guard let v = map[key], !v.isNil else { return nil }
        return v
    }

    public func requiredString(_ key: String) throws(EAPIError) -> String {
        guard let v = map[key] else { throw .invalidParams("\(context).\(key) is required") }
        guard let s = v.stringValue else { throw bad(key, "a string") }
        return s
    }

    public func optionalString(_ key: String) throws(EAPIError) -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v.stringValue else { throw bad(key, "a string") }
        return s
    }

    public func string(_ key: String, default d: String) throws(EAPIError) -> String {
        try optionalString(key) ?? d
    }

    public func optionalInt(_ key: String) throws(EAPIError) -> Int64? {
        guard let v = present(key) else { return nil }
        guard let i = v.int64Value else { throw bad(key, "an integer") }
        return i
    }

    public func int(_ key: String, default d: Int64) throws(EAPIError) -> Int64 {
        try optionalInt(key) ?? d
    }

    public func optionalDouble(_ key: String) throws(EAPIError) -> Double? {
        guard let v = present(key) else { return nil }
        guard let f = v.doubleValue, f.isFinite else { throw bad(key, "a number") }
        return f
    }

    public func double(_ key: String, default d: Double) throws(EAPIError) -> Double {
        try optionalDouble(key) ?? d
    }

    public func optionalBool(_ key: String) throws(EAPIError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard let b = v.boolValue else { throw bad(key, "a bool") }
        return b
    }

    public func bool(_ key: String, default d: Bool) throws(EAPIError) -> Bool {
        try optionalBool(key) ?? d
    }

    /// A timeout in seconds, 0 or more. The node's launcher refuses a
    /// negative one in the initial payload (eva-ffi 4.1 panics decoding
    /// it, before it loads the library, and never becomes ready), so a
    /// library that gets one refuses to start too.
    public func seconds(_ key: String, default d: Double) throws(EAPIError) -> Double {
        let v = try double(key, default: d)
        guard v >= 0 else { throw .invalidParams("\(context).\(key) must be 0 or more seconds (got \(v))") }
        return v
    }

    /// A nested map, or an empty one when absent.
    public func nested(_ key: String) throws(EAPIError) -> FieldReader {
        guard let v = present(key) else { return FieldReader(map: MsgPackMap(), context: "\(context).\(key)") }
        guard case .map(let m) = v else { throw bad(key, "a map") }
        return FieldReader(map: m, context: "\(context).\(key)")
    }
}
