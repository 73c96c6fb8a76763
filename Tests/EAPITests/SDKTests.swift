@testable import EAPI
import Synchronization
import Testing

let uuid16: [UInt8] = Array(0..<16)

func actionPayload(uuid: MsgPackValue = .binary(uuid16), i: String = "unit:tests/door",
                   extra: [(String, MsgPackValue)] = []) -> MsgPackValue {
    var m: MsgPackMap = ["uuid": uuid, "i": .string(i), "timeout": 5_000_000, "priority": 7,
                         "params": ["value": 1]]
    for (k, v) in extra { m[k] = v }
    return .map(m)
}

@Suite struct ActionRequestTests {
    @Test func parsesEveryField() throws {
        let r = try ActionRequest(actionPayload(extra: [("config", ["speed": 2])]))
        #expect(r.uuid == uuid16)
        #expect(r.oid == OID("unit:tests/door"))
        #expect(r.timeout == 5_000_000)
        #expect(r.priority == 7)
        #expect(r.value == 1)
        #expect(r.config == ["speed": 2])
        #expect(r.uuidText == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        let bare = try ActionRequest(.map(["uuid": .binary(uuid16), "i": "unit:a", "params": ["value": .nil]]))
        #expect(bare.timeout == nil && bare.priority == 100 && bare.value == .nil && bare.config == nil)
    }

    /// Codes as the shipped EVA ICS controller answers them.
    @Test func refusesWhatTheCoreNeverSendsWithEVACodes() {
        #expect(throws: EAPIError.invalidParams()) { try ActionRequest(nil) }
        #expect(throws: EAPIError.invalidParams()) { try ActionRequest(bytes: nil) }
        let bad: [MsgPackValue] = [
            5, .nil, actionPayload(uuid: .binary([1, 2])), actionPayload(uuid: "x"), actionPayload(i: "unit:"),
            .map(["uuid": .binary(uuid16), "params": ["value": 1]]),
            actionPayload(extra: [("priority", 300)]), actionPayload(extra: [("timeout", -1)]),
            actionPayload(extra: [("params", 1)]), .map(["uuid": .binary(uuid16), "i": "unit:a"]),
        ]
        for p in bad {
            #expect(throws: EAPIError.invalidData()) { try ActionRequest(p) }
        }
        let garbage: [UInt8] = [0xC1]
        #expect(throws: EAPIError.invalidData()) {
            try garbage.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws in _ = try ActionRequest(bytes: b) }
        }
        #expect(throws: EAPIError(.methodNotImplemented)) { try ActionRequest(actionPayload(extra: [("params", [:])])) }
        // any item kind: the shipped controller acts on sensors too
        #expect((try? ActionRequest(actionPayload(i: "sensor:tests/t")))?.oid.kind == .sensor)
        // a run: params optional, no value needed
        let run = try? ActionRequest(.map(["uuid": .binary(uuid16), "i": "lmacro:m"]), kind: .run)
        #expect(run?.params.isEmpty == true && run?.value == .nil)
    }
}

@Suite struct ActionTrackerTests {
    @Test func publishesEachEventWithItsFields() throws {
        let host = SDKHost()
        let action = ActionTracker(try ActionRequest(actionPayload()), host: host)
        try action.pending()
        try action.running()
        try action.completed(out: "done")
        #expect(host.frames.map(\.topic) == Array(repeating: "ACT/unit/tests/door", count: 3))
        #expect(host.frames.map(\.payload) == [
            ["uuid": .binary(uuid16), "status": 2],
            ["uuid": .binary(uuid16), "status": 8],
            ["uuid": .binary(uuid16), "status": 15, "out": "done"],
        ])
        let failing = ActionTracker(uuid: uuid16, oid: OID("unit:a")!, host: host)
        try failing.failed(err: "jammed", exitcode: 3)
        #expect(host.frames.last?.payload == ["uuid": .binary(uuid16), "status": 128, "err": "jammed", "exitcode": 3])
        let stopped = ActionTracker(uuid: uuid16, oid: OID("unit:a")!, host: host)
        try stopped.terminated(err: "stop", exitcode: -15)
        #expect(host.frames.last?.payload == ["uuid": .binary(uuid16), "status": 130, "err": "stop", "exitcode": -15])
        let canceled = ActionTracker(uuid: uuid16, oid: OID("unit:a")!, host: host)
        try canceled.canceled()
        #expect(host.frames.last?.payload == ["uuid": .binary(uuid16), "status": 129])
    }

    @Test func refusesASecondTerminalAndEventsOutOfOrder() throws {
        let host = SDKHost()
        let action = ActionTracker(uuid: uuid16, oid: OID("unit:a")!, host: host)
        try action.running()
        #expect(throws: EAPIError(.invalidRequest)) { try action.pending() }
        try action.canceled()
        #expect(throws: EAPIError(.alreadyExists)) { try action.completed() }
        #expect(throws: EAPIError(.alreadyExists)) { try action.terminated() }
        #expect(throws: EAPIError(.invalidRequest)) { try action.running() }
        #expect(action.status == .canceled && action.isFinished)
        #expect(host.frames.count == 2)
    }

    @Test func concurrentEndsGiveExactlyOneTerminalEvent() throws {
        for _ in 0..<50 {
            let host = SDKHost()
            let action = ActionTracker(uuid: uuid16, oid: OID("unit:a")!, host: host)
            let wins = Atomic<Int>(0)
            let threads = ServiceThreads()
            for t in 0..<8 {
                try threads.spawn {
                    let ok: Bool
                    switch t % 4 {
                    case 0: ok = (try? action.completed()) != nil
                    case 1: ok = (try? action.failed(err: "x")) != nil
                    case 2: ok = (try? action.canceled()) != nil
                    default: ok = (try? action.terminated()) != nil
                    }
                    if ok { wins.add(1, ordering: .relaxed) }
                }
            }
            #expect(threads.joinAll(timeout: 10))
            #expect(wins.load(ordering: .relaxed) == 1)
            #expect(host.frames.count == 1)
        }
    }

    @Test func busyIsRetriedUntilTheEventGoesOut() throws {
        let host = SDKHost()
        host.state.withLock { $0.busyPublishes = 4 }
        let action = ActionTracker(uuid: uuid16, oid: OID("unit:a")!, host: host)
        try action.completed()
        #expect(host.state.withLock { $0.publishAttempts } == 5)
        #expect(host.frames.count == 1)
    }

    @Test func busyRetryEndsWhenTheServiceStops() throws {
        let host = SDKHost()
        host.state.withLock { $0.alwaysBusy = true }
        let stop = StopFlag()
        let action = ActionTracker(uuid: uuid16, oid: OID("unit:a")!, host: host, retry: BusyRetry(stop: stop))
        let threads = ServiceThreads()
        let result = Mutex<EAPIError?>(nil)
        try threads.spawn {
            do throws(EAPIError) { try action.failed() } catch { result.withLock { $0 = error } }
        }
        while host.state.withLock({ $0.publishAttempts }) < 3 { _ = StopFlag().sleep(0.001) }
        stop.raise()
        #expect(threads.joinAll(timeout: 10))
        #expect(result.withLock { $0 } == EAPIError.busy())
        // the end stays claimed: no second terminal later
        #expect(throws: EAPIError(.alreadyExists)) { try action.completed() }
        #expect(throws: EAPIError.busy()) {
            try BusyRetry.never.run { () throws(EAPIError) in throw EAPIError.busy() }
        }
    }
}

@Suite struct ActionEventTests {
    /// The piece an action engine of its own publishes with: the encoding
    /// ActionTracker uses, into the caller's writer, retried on BUSY.
    @Test func publishActionEventEncodesAndRetries() throws {
        let host = SDKHost()
        host.state.withLock { $0.busyPublishes = 2 }
        let writer = MsgPackWriter()
        let event = ActionEvent(status: .failed, err: "no", exitcode: 1)
        let bytes: [UInt8] = Array(0..<16)
        try bytes.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws in
            try host.publishActionEvent(event, uuid: b, topic: "ACT/unit/a/b", retry: BusyRetry(), writer: writer)
        }
        #expect(host.state.withLock { $0.publishAttempts } == 3)
        #expect(host.frames.map(\.topic) == ["ACT/unit/a/b"])
        #expect(host.frames.first?.payload
            == ["uuid": .binary(bytes), "status": 0x80, "err": "no", "exitcode": 1])
        #expect("\(ActionStatus.terminated)" == "terminated")
    }

    /// The packed bytes are those of packing each key and value with the
    /// writer, for every status and optional field (the usual 16-byte uuid
    /// takes a shortcut; any other length the plain way).
    @Test func packIsTheWritersEncodingByteForByte() {
        let statuses: [ActionStatus] = [.created, .accepted, .pending, .running, .completed, .failed, .canceled,
                                        .terminated]
        let events = statuses.flatMap { status in
            [ActionEvent(status: status), ActionEvent(status: status, exitcode: -32008),
             ActionEvent(status: status, out: ["a": 1], err: "why", exitcode: 70000)]
        }
        for uuid in [Array(UInt8(200)..<UInt8(216)), [1, 2, 3]] as [[UInt8]] {
            for event in events {
                let fast = MsgPackWriter()
                uuid.withUnsafeBytes { event.pack(uuid: $0, into: fast) }
                let plain = MsgPackWriter()
                plain.packMapHeader(2 + (event.out == nil ? 0 : 1) + (event.err == nil ? 0 : 1)
                    + (event.exitcode == nil ? 0 : 1))
                plain.packString("uuid")
                plain.packBinary(uuid)
                plain.packString("status")
                plain.packUInt(UInt64(event.status.rawValue))
                if let out = event.out { plain.packString("out"); plain.pack(out) }
                if let err = event.err { plain.packString("err"); plain.packString(err) }
                if let code = event.exitcode { plain.packString("exitcode"); plain.packInt(code) }
                #expect(Array(fast.bytes) == Array(plain.bytes), "\(event.status), uuid of \(uuid.count) bytes")
            }
        }
    }

    /// A deadline set while a retry runs ends it (a service's stop).
    @Test func retryDeadlineEndsARetryInProgress() throws {
        let host = SDKHost()
        host.state.withLock { $0.alwaysBusy = true }
        let deadline = RetryDeadline()
        let retry = BusyRetry(giveUpAfter: .infinity, deadline: deadline)
        let threads = ServiceThreads()
        let result = Mutex<EAPIError?>(nil)
        try threads.spawn {
            do throws(EAPIError) {
                try retry.run { () throws(EAPIError) in try host.publish(topic: "T", value: 1) }
            } catch { result.withLock { $0 = error } }
        }
        while host.state.withLock({ $0.publishAttempts }) < 3 { _ = StopFlag().sleep(0.001) }
        #expect(result.withLock { $0 } == nil)  // still retrying: no limit yet
        deadline.set(secondsFromNow: 0.02)
        #expect(threads.joinAll(timeout: 10))
        #expect(result.withLock { $0 } == EAPIError.busy())
    }
}

@Suite struct RawStateTests {
    @Test func singleAndBulkEncoding() throws {
        let host = SDKHost()
        let a = OID("sensor:tests/a")!, u = OID("unit:tests/u")!
        try host.publishRawState(a, .ok(25.5))
        try host.publishRawState(u, RawState(status: 3, value: .nil))
        try host.markError(a)
        try host.markOK(u)
        try host.publishRawStates([(a, .ok(1)), (u, .error)])
        try host.publishRawStates([])
        let f = host.frames
        #expect(f.map(\.topic) == ["RAW/sensor/tests/a", "RAW/unit/tests/u", "RAW/sensor/tests/a", "RAW/unit/tests/u", "RAW"])
        #expect(f[0].payload == ["status": 1, "value": 25.5])
        #expect(f[1].payload == ["status": 3, "value": nil])
        #expect(f[2].payload == ["status": -1])
        #expect(f[3].payload == ["status": 1])
        #expect(f[4].payload == [["oid": "sensor:tests/a", "status": 1, "value": 1], ["oid": "unit:tests/u", "status": -1]])
    }
}

struct UnitSettings: Decodable, Equatable {
    var time: Double
    var fail: Bool?
}

struct SampleConfig: Decodable {
    var port: UInt16
    var name: String?
    var items: [OID]
    var units: [UnitSettings]
    var extra: MsgPackValue?
}

@Suite struct TypedConfigTests {
    func initial(_ config: MsgPackValue) throws(EAPIError) -> InitialPayload {
        try InitialPayload(.map(["id": "t", "config": config]))
    }

    @Test func decodesIntoATypeWithNumbersOfAnyWidth() throws {
        let c = try initial(["port": 8080, "items": ["sensor:a/b"], "units": [["time": 1], ["time": 0.5, "fail": true]],
                             "extra": [1, "x"], "ignored": true]).decodeConfig(SampleConfig.self)
        #expect(c.port == 8080 && c.name == nil && c.items == [OID("sensor:a/b")!])
        #expect(c.units == [UnitSettings(time: 1, fail: nil), UnitSettings(time: 0.5, fail: true)])
        #expect(c.extra == [1, "x"])
    }

    @Test func errorsNameTheKeyPath() throws {
        func message(_ config: MsgPackValue, _ unknown: MsgPackValueDecoder.UnknownKeys = .ignore) throws -> String {
            do throws(EAPIError) {
                _ = try initial(config).decodeConfig(SampleConfig.self, unknownKeys: unknown)
                return "decoded"
            } catch {
                #expect(error.code == .invalidParams)
                return error.message
            }
        }
        let ok: MsgPackMap = ["port": 1, "items": [], "units": []]
        var m = ok; m["units"] = [["time": 1], ["time": "slow"]]
        #expect(try message(.map(m)) == "config.units[1].time must be a number")
        m = ok; m["port"] = 70000
        #expect(try message(.map(m)) == "config.port must be an integer in 0...65535")
        m = ok; m["port"] = nil
        #expect(try message(.map(m)) == "config.port is required")
        m = ok; m["items"] = ["sensor:a", "nope"]
        #expect(try message(.map(m)) == "config.items[1] must be an OID (kind:group/id)")
        m = ok; m["units"] = [["time": 1, "speed": 2]]
        #expect(try message(.map(m), .refuse) == "config.units[0].speed is not a known key")
        #expect(try message(.map(m)) == "decoded")
        #expect(try message(5) == "config must be a map")
        m = ok; m["items"] = [5]
        #expect(try message(.map(m)) == "config.items[0] must be an OID (kind:group/id)")
        // the launcher's spelling of eapi_version is read too
        #expect(try InitialPayload(.map(["id": "t", "core": ["eapi_verion": 3]])).core.eapiVersion == 3)
    }
}

@Suite struct ErrorNameTests {
    @Test func everyCodeHasItsEVAName() {
        #expect(EAPIErrorCode.notFound.name == "NOT_FOUND")
        #expect(EAPIErrorCode.busTimeout.name == "BUS_TIMEOUT")
        #expect(EAPIErrorCode.internalRPC.name == "INTERNAL_RPC")
        #expect(Set(EAPIErrorCode.allCases.map(\.name)).count == EAPIErrorCode.allCases.count)
        for code in EAPIErrorCode.allCases { #expect(EAPIErrorCode(name: code.name) == code) }
        #expect(EAPIErrorCode(name: "NOPE") == nil)
        #expect(EAPIError(.busy).name == "BUSY (-32013)")
        #expect(EAPIError(rawCode: -1).name == "code -1")
    }
}

@Suite struct CoreWaitTests {
    @Test func coreActiveAndWaitForCore() throws {
        let host = SDKHost()
        host.state.withLock { $0.coreAnswers = [false, false, true] }
        #expect(try host.coreActive() == false)
        #expect(try host.waitForCore(timeout: 5, pollInterval: 0.001) == true)  // inactive at first
        #expect(host.state.withLock { $0.calls } == 3)
        host.state.withLock { $0.coreAnswers = [true] }
        #expect(try host.waitForCore(timeout: 5) == false)
        // a poll that fails counts as inactive, as in eva4-sdk
        host.state.withLock { $0.coreFailures = 2; $0.coreAnswers = [true]; $0.calls = 0 }
        #expect(throws: EAPIError(.busTimeout)) { try host.coreActive() }
        #expect(try host.waitForCore(timeout: 5, pollInterval: 0.001) == true)
        #expect(host.state.withLock { $0.calls } == 3)
        #expect(throws: EAPIError(.timeout)) { try host.waitForCore(timeout: 0.02, pollInterval: 0.005) }
        let stop = StopFlag()
        stop.raise()
        #expect(throws: EAPIError(.aborted)) { try host.waitForCore(timeout: 5, stop: stop) }
    }

    @Test(arguments: [LifecycleCallback.prepare, .launch, .terminate])
    func refusedInsideALifecycleCallback(callback: LifecycleCallback) {
        let host = SDKHost()
        host.state.withLock { $0.callback = callback; $0.coreAnswers = [true] }
        func check(_ error: EAPIError?) {
            guard let error else { Issue.record("not refused in \(callback)"); return }
            #expect(error.code == .notReady)
            #expect(error.message.contains(callback.rawValue))
            #expect(error.message.contains("would hang an EVA ICS 4.2 node"))
            #expect(error.message.contains("workers: 1"))
        }
        do throws(EAPIError) { _ = try host.coreActive(); check(nil) } catch { check(error) }
        do throws(EAPIError) { try host.waitForCore(timeout: 1); check(nil) } catch { check(error) }
        #expect(host.state.withLock { $0.calls } == 0)
    }
}

@Suite struct ThreadsTests {
    @Test func joinAllEndsByTheShutdownDeadlineAndSaysWhatIsLeft() throws {
        let host = SDKHost()
        let threads = ServiceThreads(host: host)
        let stop = StopFlag()
        try threads.spawn("stuck in a bus call") { _ = stop.sleep(1e300) }
        try threads.spawn("quick") {}
        // Not stopping: the caller's timeout alone.
        host.state.withLock { $0.shutdownTimeLeft = 0.25 }
        let start = monotonicSeconds()
        #expect(!threads.joinAll())
        let took = monotonicSeconds() - start
        // A share of the time left (0.8 × 0.25 s), not the whole of it.
        #expect(took >= 0.19 && took < 0.25, "\(took)")
        let warned = host.state.withLock { $0.logs }.filter { $0.0 == .warn }.map(\.1)
        #expect(warned == ["1 thread(s) still running after 0.200 s, left to end on their own: stuck in a bus call"])
        stop.raise()
        #expect(threads.joinAll(timeout: 10))
    }

    @Test func joinAllWithoutADeadlineWaitsForEveryThread() throws {
        let host = SDKHost()
        let threads = ServiceThreads(host: host)
        let done = Atomic<Bool>(false)
        try threads.spawn("slow") {
            sleepSeconds(0.1)
            done.store(true, ordering: .relaxed)
        }
        #expect(threads.joinAll())
        let ended = done.load(ordering: .relaxed)
        #expect(ended)
        #expect(host.state.withLock { $0.logs }.isEmpty)
    }

    @Test func stopFlagWakesASleeperAndThreadsJoin() throws {
        let stop = StopFlag()
        let threads = ServiceThreads()
        let slept = Atomic<Int>(-1)
        try threads.spawn { slept.store(stop.sleep(1e300) ? 1 : 0, ordering: .relaxed) }
        #expect(threads.count == 1)
        #expect(!threads.joinAll(timeout: 0.05))
        stop.raise()
        #expect(threads.joinAll(timeout: 10))
        #expect(slept.load(ordering: .relaxed) == 0)
        #expect(throws: EAPIError.notReady()) { try threads.spawn {} }
        #expect(stop.isRaised && !stop.sleep(1))
    }
}
