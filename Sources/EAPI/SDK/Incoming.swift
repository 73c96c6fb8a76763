#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The BUS/RT kind of a received frame (`EvaFFIFrame.kind`).
public struct FrameKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A publication on a topic the service subscribed to.
    public static let publish = FrameKind(rawValue: 0x01)
    /// A message sent to this service directly.
    public static let message = FrameKind(rawValue: 0x12)
    /// A message sent to several clients by a name mask.
    public static let broadcast = FrameKind(rawValue: 0x13)

    public var description: String {
        switch self {
        case .publish: "publish"
        case .message: "message"
        case .broadcast: "broadcast"
        default: "kind \(rawValue)"
        }
    }
}

/// An incoming RPC call. Its bytes belong to the launcher: valid only while
/// the handler runs (copy what you keep).
public struct RPCCall {
    /// The method, as sent: any bytes (not NUL-terminated).
    public let method: UnsafeRawBufferPointer
    /// The params, nil when the call has none.
    public let payload: UnsafeRawBufferPointer?
    private let senderRaw: UnsafeRawBufferPointer?
    private let senderC: UnsafePointer<CChar>?

    public init(method: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer?, sender: UnsafeRawBufferPointer) {
        self.method = method
        self.payload = payload
        self.senderRaw = sender
        self.senderC = nil
    }

    /// With the sender as the launcher passes it, NUL-terminated (measured
    /// only when asked for: the hot path never pays for it).
    public init(method: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer?, senderCString: UnsafePointer<CChar>?) {
        self.method = method
        self.payload = payload
        self.senderRaw = nil
        self.senderC = senderCString
    }

    /// The caller's bus client name (the primary sender), UTF-8.
    public var senderBytes: UnsafeRawBufferPointer { senderRaw ?? cStringBytes(senderC) }

    /// The caller, e.g. `eva.core` or `eva.svc.myclient`.
    public var sender: String { String(decoding: senderBytes, as: UTF8.self) }
    /// The method as text (invalid UTF-8 repaired; compare with `is` to match exactly).
    public var methodName: String { String(decoding: method, as: UTF8.self) }

    /// Whether the method is exactly `name` (no String is made).
    public func method(is name: StaticString) -> Bool {
        MsgPackScanner.equal(method, UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    /// The params decoded; nil when the call has none. INVALID_PARAMS when
    /// they are not one MessagePack value.
    public func params() throws(EAPIError) -> MsgPackValue? {
        guard let payload, payload.count > 0 else { return nil }
        return try MsgPackValue(decoding: payload)
    }

    /// The params decoded into `T` (a `Decodable` struct); INVALID_PARAMS
    /// naming the field. No params decode as an empty map.
    public func params<T: Decodable>(as type: T.Type) throws(EAPIError) -> T {
        try MsgPackValueDecoder().decode(type, from: try params() ?? .map(MsgPackMap()), root: "params")
    }
}

/// A received bus frame. Its bytes belong to the launcher: valid only while
/// the handler runs.
public struct BusFrame {
    public let kind: FrameKind
    private let senderRaw: UnsafeRawBufferPointer?
    private let senderC: UnsafePointer<CChar>?
    /// The sender's bus client name, UTF-8.
    public var senderBytes: UnsafeRawBufferPointer { senderRaw ?? cStringBytes(senderC) }
    /// The topic (empty for a frame that is not a publication), UTF-8.
    public let topicBytes: UnsafeRawBufferPointer
    /// May be empty.
    public let payload: UnsafeRawBufferPointer

    public init(kind: FrameKind, sender: UnsafeRawBufferPointer, topic: UnsafeRawBufferPointer,
                payload: UnsafeRawBufferPointer) {
        self.kind = kind
        self.senderRaw = sender
        self.senderC = nil
        self.topicBytes = topic
        self.payload = payload
    }

    /// With the sender as the launcher passes it, NUL-terminated (measured
    /// only when asked for).
    public init(kind: FrameKind, senderCString: UnsafePointer<CChar>?, topic: UnsafeRawBufferPointer,
                payload: UnsafeRawBufferPointer) {
        self.kind = kind
        self.senderRaw = nil
        self.senderC = senderCString
        self.topicBytes = topic
        self.payload = payload
    }

    public var sender: String { String(decoding: senderBytes, as: UTF8.self) }
    public var topic: String { String(decoding: topicBytes, as: UTF8.self) }

    /// The payload decoded; nil when empty.
    public func value() throws(EAPIError) -> MsgPackValue? {
        payload.count > 0 ? try MsgPackValue(decoding: payload) : nil
    }
}

/// A NUL-terminated string as bytes (empty for null).
@inline(__always)
func cStringBytes(_ p: UnsafePointer<CChar>?) -> UnsafeRawBufferPointer {
    guard let p else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    return UnsafeRawBufferPointer(start: p, count: strlen(p))
}
