// An EVA ICS FFI service written with the Swift SDK: `hello`, `hello {name}`,
// and unit actions that take `action_time` seconds. FFIExports.swift (a copy
// of mk/FFIExports.swift) exports it; `make examples` links it.
import EvaFFI

typealias ExportedService = HelloService

/// `config:` of the service template; every key is optional.
struct HelloConfig: Decodable {
    var greeting: String?
    var action_time: Double?
}

final class HelloService: FFIService {
    let host: FFIHost
    let greeting: String
    let actionTime: Double
    let stop = StopFlag()
    let threads = ServiceThreads()

    init(initial: InitialPayload, host: FFIHost) throws(EAPIError) {
        let config = try initial.decodeConfig(HelloConfig.self)  // INVALID_PARAMS naming the key
        self.host = host
        greeting = config.greeting ?? "hi"
        actionTime = config.action_time ?? 1
        host.log(.info, "init: \(initial.id), actions take \(actionTime) s")  // stderr: no bus yet
    }

    var info: ServiceInfo {
        ServiceInfo(author: "EVA ICS Swift SDK", version: "0.1.0", description: "Hello service (Swift SDK example)",
                    methods: [.init("hello", "greets", params: [("name", false)]),
                              .init("action", "unit action", params: [("uuid", true), ("i", true), ("params", true)])])
    }

    /// Calls wait for `prepare`: until it returns the runtime answers NOT_READY.
    static var handlesCallsBeforeReady: Bool { false }

    func prepare() throws(EAPIError) { host.log(.info, "prepare: the bus is up") }

    func launch() throws(EAPIError) {
        host.log(.info, "launch: ready")
        // Waiting for the core belongs on a thread of our own: in a callback it is refused.
        try threads.spawn { [host, stop] in
            do throws(EAPIError) {
                try host.waitForCore(timeout: 30, stop: stop)
                host.log(.info, "the core is active")
            } catch { host.log(.warn, "no core: \(error)") }
        }
    }

    func terminate() throws {
        host.log(.info, "terminate: waiting for \(threads.count) thread(s)")
        stop.raise()
        threads.joinAll()
    }

    func handleCall(_ call: RPCCall, reply: MsgPackWriter) throws(EAPIError) {
        if call.method(is: "hello") {
            struct Params: Decodable { var name: String? }
            let name = try call.params(as: Params.self).name
            reply.packString(name.map { "\(greeting) \($0)" } ?? "hi there")
        } else if call.method(is: "action") {
            let request = try ActionRequest(call)  // EVA ICS codes: INVALID_DATA, METHOD_NOT_IMPLEMENTED
            guard request.oid.kind == .unit else { throw .invalidData("\(request.oid) is not a unit") }
            let action = ActionTracker(request, host: host, retry: BusyRetry(stop: stop))
            try threads.spawn { [self] in run(action, request) }  // refused once stopping
        } else {
            throw .methodNotFound()
        }
    }

    func handleFrame(_ frame: BusFrame) throws {}  // subscribes to nothing

    /// PENDING, RUNNING, then exactly one of COMPLETED or TERMINATED (stopped).
    func run(_ action: ActionTracker, _ request: ActionRequest) {
        do throws(EAPIError) {
            try action.pending()
            try action.running()
            guard stop.sleep(actionTime) else { return try action.terminated(err: "the service is stopping") }
            try host.publishRawState(request.oid, .ok(request.value))
            try action.completed(out: "done")
        } catch { host.log(.error, "action \(request.uuidText): \(error)") }
    }
}
