#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ServiceHost {
    /// Whether the node's core is active (`eva.core` `test` → `{active}`).
    ///
    /// The core ignores raw state and action events until it is active.
    /// Refused on the launcher's thread inside any lifecycle callback: there
    /// it would hang a 4.2 node with one worker. A reply without a boolean
    /// `active` is INVALID_DATA (`waitForCore` counts it as inactive). This is
    /// one poll: a service that polls from a loop of its own (with other work
    /// between polls) calls it there, `waitForCore` when it just waits.
    public func coreActive() throws(EAPIError) -> Bool {
        if let callback = lifecycleCallback { throw .wouldHangNode("coreActive() (RPC eva.core test)", in: callback) }
        let reply = try call(target: "eva.core", method: "test", params: nil as MsgPackValue?)
        guard let active = reply?["active"]?.boolValue else {
            throw .invalidData("eva.core test: the reply has no \"active\" flag")
        }
        return active
    }

    /// Polls `coreActive()` every `pollInterval` seconds until the core is
    /// active. TIMEOUT after `timeout` seconds, ABORTED when `stop` is raised;
    /// a failed poll (the core not reachable yet) counts as inactive. Returns
    /// true when the core was inactive at first: raw states published before
    /// were dropped by it, publish them again.
    ///
    /// Call it from a thread of your own (one started in `launch`): inside
    /// a lifecycle callback it is refused. In `svc_prepare` it could never
    /// succeed on any node (the core waits for this service to be ready);
    /// in `svc_launch` or `svc_terminate` it hangs a 4.2 node with one
    /// worker. From another thread while a callback runs on a one-worker
    /// node, each poll waits until the callback returns: never make the
    /// callback wait for that thread.
    @discardableResult
    public func waitForCore(timeout: Double, pollInterval: Double = 0.1, stop: StopFlag? = nil) throws(EAPIError) -> Bool {
        if let callback = lifecycleCallback { throw .wouldHangNode("waitForCore()", in: callback) }
        let deadline = monotonicSeconds() + timeout
        var wasInactive = false
        while true {
            if (try? coreActive()) == true { return wasInactive }
            wasInactive = true
            if stop?.isRaised == true { throw EAPIError(.aborted, "waitForCore: the service is stopping") }
            let left = deadline - monotonicSeconds()
            if left <= 0 { throw EAPIError(.timeout, "the core did not become active within \(timeout) s") }
            if let stop {
                if !stop.sleep(min(pollInterval, left)) { throw EAPIError(.aborted, "waitForCore: the service is stopping") }
            } else {
                sleepSeconds(min(pollInterval, left))
            }
        }
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func sleepSeconds(_ s: Double) {
    guard s > 0 else { return }
    var ts = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
    var rem = timespec()
    while nanosleep(&ts, &rem) != 0, errno == EINTR { ts = rem }
}
