/// An action as the core sends it in an `action` call: `{uuid, i, timeout?,
/// priority?, params: {value}, config?}`; or an lmacro run in a `run` call,
/// the same with `params?: {args?, kwargs?}` (`Kind.run`).
///
/// Errors follow the EVA ICS convention the shipped controllers keep (they
/// decode with serde and map a failure to INVALID_DATA): no payload →
/// INVALID_PARAMS; a payload that does not decode (not MessagePack, not a
/// map, uuid not 16 bytes of bin, i missing or not an OID, timeout or
/// priority of the wrong type, params missing or not a map) → INVALID_DATA;
/// `params` of an action without `value` → METHOD_NOT_IMPLEMENTED. Any item
/// kind is accepted (the shipped virtual controller acts on sensors and
/// lvars too): check `oid.kind` where a service takes units only.
public struct ActionRequest: Sendable {
    public enum Kind: Sendable {
        /// `action`: `params` with a `value` is required.
        case action
        /// `run` (an lmacro): `params` may be absent or nil.
        case run
    }

    /// 16 bytes.
    public let uuid: [UInt8]
    /// The item (a unit for an action the core sends; an lmacro for a run).
    public let oid: OID
    /// Microseconds the core allows for the action; nil when none (absent or 0).
    public let timeout: UInt64?
    /// 0..255, lower first; 100 when absent.
    public let priority: UInt8
    /// `params.value`, the state the unit is asked to take (nil for a run).
    public let value: MsgPackValue
    /// `params`, whole (empty when a run has none).
    public let params: MsgPackMap
    /// `config`, when the call carries one.
    public let config: MsgPackValue?

    public static let defaultPriority: UInt8 = 100

    /// Reads the params of the call (nil: the call had none).
    public init(_ payload: MsgPackValue?, kind: Kind = .action) throws(EAPIError) {
        let method = kind == .action ? "action" : "run"
        guard let payload else { throw .invalidParams("\(method): params required") }
        guard case .map(let m) = payload else { throw .invalidData("\(method): params must be a map") }
        guard let rawUUID = m["uuid"] else { throw .invalidData("\(method): uuid is required") }
        guard case .binary(let uuid) = rawUUID, uuid.count == 16 else {
            throw .invalidData("\(method): uuid must be 16 bytes of bin")
        }
        guard let rawI = m["i"] else { throw .invalidData("\(method): i is required") }
        guard let s = rawI.stringValue, let oid = OID(s) else { throw .invalidData("\(method): i must be an OID") }
        var timeout: UInt64?
        switch m["timeout"] {
        case nil, .nil?: break
        case .int(let v)? where v >= 0: timeout = v == 0 ? nil : UInt64(v)
        case .uint(let v)?: timeout = v
        default: throw .invalidData("\(method): timeout must be an unsigned integer (microseconds)")
        }
        var priority = Self.defaultPriority
        if let p = m["priority"], !p.isNil {
            guard let v = p.int64Value, let u8 = UInt8(exactly: v) else {
                throw .invalidData("\(method): priority must be an integer 0..255")
            }
            priority = u8
        }
        var params = MsgPackMap()
        switch m["params"] {
        case nil:
            if kind == .action { throw .invalidData("\(method): params is required") }
        case .nil?:
            if kind == .action { throw .invalidData("\(method): params must be a map") }
        case .map(let p)?:
            params = p
        case .some:
            throw .invalidData("\(method): params must be a map")
        }
        let value = params["value"]
        if kind == .action, value == nil {
            throw EAPIError(.methodNotImplemented, "\(method): params.value is required")
        }
        let config = m["config"]
        self.uuid = uuid
        self.oid = oid
        self.timeout = timeout
        self.priority = priority
        self.value = value ?? .nil
        self.params = params
        self.config = config.flatMap { $0.isNil ? nil : $0 }
    }

    /// Reads an encoded payload (nil or empty: the call had none); bytes
    /// that are not one MessagePack value → INVALID_DATA.
    public init(bytes: UnsafeRawBufferPointer?, kind: Kind = .action) throws(EAPIError) {
        guard let bytes, bytes.count > 0 else { try self.init(nil as MsgPackValue?, kind: kind); return }
        let value: MsgPackValue
        do throws(EAPIError) { value = try MsgPackValue(decoding: bytes) } catch {
            throw .invalidData("\(kind == .action ? "action" : "run"): \(error.message)")
        }
        try self.init(value, kind: kind)
    }

    /// Reads the params of an `action` (or `run`) call.
    public init(_ call: RPCCall, kind: Kind = .action) throws(EAPIError) {
        try self.init(bytes: call.payload, kind: kind)
    }

    /// The uuid in its text form, for logs.
    public var uuidText: String { ActionRequest.text(uuid) }

    static func text(_ uuid: [UInt8]) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for (n, byte) in uuid.enumerated() {
            if n == 4 || n == 6 || n == 8 || n == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
