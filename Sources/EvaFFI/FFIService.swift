import EAPI

/// A service behind the ABI exports. The runtime creates it at `svc_init`
/// and calls it from the launcher's threads, many at once.
public protocol FFIService: AnyObject, Sendable {
    /// The bus is not connected yet: logs go to stderr, bus calls fail.
    init(initial: InitialPayload, host: FFIHost) throws(EAPIError)
    var info: ServiceInfo { get }
    func prepare() throws(EAPIError)
    func launch() throws(EAPIError)
    /// Stops and joins every thread the service started; the service makes
    /// no host calls after it returns.
    func terminate()
    /// `method` is arbitrary bytes; `payload` nil means no payload. Leave
    /// `reply` empty for a reply with no payload.
    func handleCall(method: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer?,
                    reply: MsgPackWriter) throws(EAPIError)
    func handleFrame(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)
}
