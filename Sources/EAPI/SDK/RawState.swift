/// A raw item state, as a controller reports it to the core on `RAW/...`.
public struct RawState: Sendable, Hashable {
    public var status: Int16
    /// nil: the event carries no `value` (the core keeps the value it has);
    /// `.nil`: the value is MessagePack nil.
    public var value: MsgPackValue?

    public init(status: Int16, value: MsgPackValue? = nil) {
        self.status = status
        self.value = value
    }

    /// Status 1 (OK) with a value.
    public static func ok(_ value: MsgPackValue) -> RawState { RawState(status: ItemStatus.ok, value: value) }
    /// Status 1 (OK), value unchanged.
    public static let ok = RawState(status: ItemStatus.ok)
    /// Status -1 (ERROR), value unchanged.
    public static let error = RawState(status: ItemStatus.error)

    /// `{status, value?}`, preceded by `oid` when given (the bulk form).
    public func pack(into writer: MsgPackWriter, oid: OID? = nil) {
        writer.packMapHeader(1 + (value == nil ? 0 : 1) + (oid == nil ? 0 : 1))
        if let oid {
            writer.packString("oid")
            writer.packString(oid.description)
        }
        writer.packString("status")
        writer.packInt(Int64(status))
        if let value {
            writer.packString("value")
            writer.pack(value)
        }
    }
}

/// Raw state topics: `RAW/<kind>/<group>/<id>` for one item, `RAW` for bulk.
public enum RawTopic {
    public static let bulk = "RAW"
    public static func of(_ oid: OID) -> String { "RAW/\(oid.path)" }
}

extension ServiceHost {
    /// Publishes one item's raw state to `RAW/<path>`: `{status, value?}`.
    /// The core ignores it until it is active (see `waitForCore`).
    public func publishRawState(_ oid: OID, _ state: RawState) throws(EAPIError) {
        let writer = MsgPackWriter()
        state.pack(into: writer)
        try publish(topic: RawTopic.of(oid), payload: writer.bytes)
    }

    /// Publishes several states as one bulk `RAW` event: a list of
    /// `{oid, status, value?}`. Nothing is sent for an empty list.
    public func publishRawStates(_ states: [(oid: OID, state: RawState)]) throws(EAPIError) {
        guard !states.isEmpty else { return }
        let writer = MsgPackWriter()
        writer.packArrayHeader(states.count)
        for s in states { s.state.pack(into: writer, oid: s.oid) }
        try publish(topic: RawTopic.bulk, payload: writer.bytes)
    }

    /// Status 1 (OK), value unchanged; `markError` sets status -1.
    public func markOK(_ oid: OID) throws(EAPIError) { try publishRawState(oid, .ok) }
    public func markError(_ oid: OID) throws(EAPIError) { try publishRawState(oid, .error) }
}
