/// What a service may ask of whatever hosts it: the FFI launcher in
/// production, a fake in tests. Every call may come from any thread.
public protocol ServiceHost: Sendable {
    /// Publishes an encoded MessagePack payload (empty for none).
    func publish(topic: String, payload: UnsafeRawBufferPointer) throws(EAPIError)
    /// The same with the topic as UTF-8 bytes (no NUL inside), for hot
    /// paths that keep topics encoded. The default makes a String of it.
    func publish(topicBytes: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) throws(EAPIError)
    func subscribe(_ topics: [String]) throws(EAPIError)
    func unsubscribe(_ topics: [String]) throws(EAPIError)
    /// A blocking RPC call on the bus. `params` nil sends no payload; the
    /// result is nil when the peer answered with no payload.
    func call(target: String, method: String, params: [UInt8]?) throws(EAPIError) -> [UInt8]?
    /// Whether a message at this level would be delivered (the core's level).
    func isLogged(_ level: LogLevel) -> Bool
    /// Delivers a log message; callers check `isLogged` first (see `log`).
    func write(log level: LogLevel, _ message: String)
    /// False once the host is stopping the service.
    var isActive: Bool { get }
    /// Asks the host to stop the service.
    func terminate()
    /// The lifecycle callback running on the calling thread, if any (nil on
    /// every other thread). The SDK refuses bus calls that would hang a node
    /// there (`coreActive`, `waitForCore`; the FFI host refuses any RPC call
    /// with one worker). Hosts that are not a launcher keep the default, nil.
    var lifecycleCallback: LifecycleCallback? { get }
    /// Seconds left before the node kills a stopping service (from the
    /// start of `svc_terminate`, `timeout.shutdown`); nil while it is not
    /// stopping, or where the host sets no such limit (the default).
    /// `ServiceThreads.joinAll` waits no longer than this.
    var shutdownTimeLeft: Double? { get }
}

extension ServiceHost {
    public var lifecycleCallback: LifecycleCallback? { nil }
    public var shutdownTimeLeft: Double? { nil }

    public func publish(topicBytes: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) throws(EAPIError) {
        try publish(topic: String(decoding: topicBytes, as: UTF8.self), payload: payload)
    }

    /// Logs lazily: the message is built only when the level is delivered.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        if isLogged(level) { write(log: level, message()) }
    }

    public func publish(topic: String, value: MsgPackValue) throws(EAPIError) {
        let writer = MsgPackWriter()
        writer.pack(value)
        try publish(topic: topic, payload: writer.bytes)
    }

    public func call(target: String, method: String, params: MsgPackValue?) throws(EAPIError) -> MsgPackValue? {
        guard let reply = try call(target: target, method: method, params: params?.encoded()) else { return nil }
        return try MsgPackValue(decoding: reply)
    }
}
