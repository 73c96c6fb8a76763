/// A unit action as the core sends it in an `action` call:
/// `{uuid, i, timeout?, priority?, params: {value}, config?}`.
public struct ActionRequest: Sendable {
    /// 16 bytes.
    public let uuid: [UInt8]
    /// A unit.
    public let oid: OID
    /// Microseconds the core allows for the action; nil when none (absent or 0).
    public let timeout: UInt64?
    /// 0..255, lower first; 100 when absent.
    public let priority: UInt8
    /// `params.value`, the state the unit is asked to take (nil when absent).
    public let value: MsgPackValue
    /// `params`, whole.
    public let params: MsgPackMap
    /// `config`, when the call carries one.
    public let config: MsgPackValue?

    public static let defaultPriority: UInt8 = 100

    /// Reads the payload of an `action` call; INVALID_PARAMS naming the field
    /// that is missing or wrong.
    public init(_ payload: MsgPackValue?) throws(EAPIError) {
        guard let payload, case .map(let m) = payload else { throw .invalidParams("action: params must be a map") }
        guard let rawUUID = m["uuid"] else { throw .invalidParams("action: uuid is required") }
        guard case .binary(let uuid) = rawUUID, uuid.count == 16 else {
            throw .invalidParams("action: uuid must be 16 bytes (binary)")
        }
        guard let rawI = m["i"] else { throw .invalidParams("action: i is required") }
        guard let s = rawI.stringValue, let oid = OID(s) else { throw .invalidParams("action: i must be an OID") }
        guard oid.kind == .unit else { throw .invalidParams("action: i must be a unit (\(oid) is not)") }
        var timeout: UInt64?
        switch m["timeout"] {
        case nil, .nil?: break
        case .int(let v)? where v >= 0: timeout = v == 0 ? nil : UInt64(v)
        case .uint(let v)?: timeout = v
        default: throw .invalidParams("action: timeout must be an unsigned integer (microseconds)")
        }
        var priority = Self.defaultPriority
        if let p = m["priority"], !p.isNil {
            guard let v = p.int64Value, let u8 = UInt8(exactly: v) else {
                throw .invalidParams("action: priority must be an integer 0..255")
            }
            priority = u8
        }
        guard let rawParams = m["params"] else { throw .invalidParams("action: params is required") }
        guard case .map(let params) = rawParams else { throw .invalidParams("action: params must be a map") }
        let config = m["config"]
        self.uuid = uuid
        self.oid = oid
        self.timeout = timeout
        self.priority = priority
        self.value = params["value"] ?? .nil
        self.params = params
        self.config = config.flatMap { $0.isNil ? nil : $0 }
    }

    /// Reads an encoded payload (nil: the call had none).
    public init(bytes: UnsafeRawBufferPointer?) throws(EAPIError) {
        guard let bytes, bytes.count > 0 else { throw .invalidParams("action: params must be a map") }
        try self.init(try MsgPackValue(decoding: bytes))
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
