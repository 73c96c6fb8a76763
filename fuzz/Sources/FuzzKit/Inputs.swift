#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import FuzzLauncher

/// What the fuzz targets run against, and how their inputs are cut up.
/// fuzz/gen-corpus.py writes seeds in these formats; keep the two in step.
public enum FuzzInputs {
    /// The controller config of the rpc and frame targets: items, pull,
    /// variables, units with short action times, macros of every step kind,
    /// action_map, bind, auto_create, a short persist_interval.
    public static let config: MsgPackValue = [
        "items": ["sensor:tests/temp", "sensor:tests/hum", "lvar:tests/flag"],
        "auto_create": true,
        "pull": [
            ["var": "plc", "map": [["oid": "sensor:tests/p0", "idx": 0], ["oid": "sensor:tests/p1", "idx": 1]]],
            ["var": "whole", "map": [["oid": "sensor:tests/whole"]]],
        ],
        "pull_interval": 0.01,
        "action_map": ["unit:tests/u1": ["var": "u1_pos"], "unit:tests/u2": ["var": "arr[3]"]],
        "vars": ["plc": [1, 2.5, "x"], "whole": 1, "arr": [0, 0, 0, 0], "text": "hello"],
        "units": [
            "unit:tests/u1": ["action_time": 0.001],
            "unit:tests/u2": ["action_time": 0.002, "status": 2],
            "unit:tests/broken": ["fail": true],
            "unit:tests/slow": ["action_time": 0.05],
        ],
        "macros": [
            "lmacro:tests/m1": ["steps": [
                ["action": ["i": "unit:tests/u1", "value": "$1"]],
                ["set": ["i": "sensor:tests/temp", "status": 1, "value": "$1"]],
                ["var": ["i": "m_out", "value": "$kw"]],
                ["sleep": 0.001],
                ["out": "done"],
            ]],
            "lmacro:tests/call": ["steps": [
                ["call": ["target": "eva.fake", "method": "echo", "params": ["x": "$1"]]],
            ]],
            "lmacro:tests/callfail": ["steps": [["call": ["target": "eva.fake", "method": "fail"]]]],
            "lmacro:tests/fail": ["steps": [["fail": "boom"]]],
            "lmacro:tests/sleepy": ["steps": [["sleep": 0.02], ["out": 1]]],
            "lmacro:tests/broken": ["steps": [["action": ["i": "unit:tests/broken", "value": 1]]]],
        ],
        "bind": ["bound_a": "sensor:tests/ext", "bound_arr[1]": "unit:tests/ext2", "bound_b": "sensor:tests/ext"],
        "macro_workers": 2,
        "persist_interval": 0.05,
    ]

    /// The item paths `config.bind` names (frame target: a known topic).
    public static let boundPaths = ["sensor/tests/ext", "unit/tests/ext2"]

    /// The initial payload the launcher would send, around a config.
    public static func initial(config: MsgPackValue, logLevel: Int64 = 0) -> [UInt8] {
        let value: MsgPackValue = [
            "version": 4, "system_name": "fuzz", "id": "eva.controller.fuzz", "command": "svc/eva-ffi",
            "prepare_command": nil, "data_path": "",
            "timeout": ["startup": 5.0, "shutdown": 5.0, "default": 2.0],
            "core": ["build": 2024010101, "version": "4.0.2", "eapi_version": 1, "path": "/opt/eva4",
                     "log_level": .int(logLevel), "active": true],
            "bus": ["type": "native", "path": "var/bus.ipc", "timeout": 5.0, "buf_ttl": 10, "buf_size": 8192,
                    "queue_size": 8192, "ping_interval": 1.0],
            "config": config, "workers": 2, "user": "", "react_to_fail": false, "fail_mode": false,
            "fips": false, "call_tracing": false,
        ]
        return value.encoded()
    }

    /// Method selectors 0..<15 (low 7 bits of a record's first byte).
    public static let methods: [String] = [
        "list", "get", "set", "var.get", "var.set", "var.set_bulk", "var.destroy", "var.list",
        "action", "run", "terminate", "kill", "test", "info", "stop",
    ]

    static let methodSet: Set<[UInt8]> = Set(methods.map { Array($0.utf8) })

    public static func isKnownMethod(_ bytes: UnsafeRawBufferPointer) -> Bool {
        methodSet.contains(Array(bytes))
    }

    /// One call of an rpc input.
    public struct Call {
        public var method: UnsafeRawBufferPointer
        /// nil: no payload
        public var payload: UnsafeRawBufferPointer?
    }

    /// rpc input: a sequence of records
    ///   sel: u8        bit 7 clear: method `methods[sel % 15]`;
    ///                  bit 7 set: raw method of `sel & 0x7f` bytes, which follow
    ///   len: u16 LE    payload length (cut to what is left; 0 = no payload;
    ///                  a missing length = the rest of the input)
    ///   payload
    public static func calls(_ data: UnsafeRawBufferPointer) -> [Call] {
        var calls: [Call] = []
        var at = 0
        let n = data.count
        while at < n, calls.count < 64 {
            let sel = data[at]
            at += 1
            var method: UnsafeRawBufferPointer
            if sel & 0x80 == 0 {
                let name = methodBytes[Int(sel) % methods.count]
                method = name
            } else {
                let len = min(Int(sel & 0x7f), n - at)
                method = UnsafeRawBufferPointer(rebasing: data[at..<at + len])
                at += len
            }
            var plen: Int
            if at + 2 <= n {
                plen = Int(data[at]) | Int(data[at + 1]) << 8
                at += 2
            } else {
                plen = n - at
            }
            plen = min(plen, n - at)
            let payload = plen > 0 ? UnsafeRawBufferPointer(rebasing: data[at..<at + plen]) : nil
            at += plen
            calls.append(Call(method: method, payload: payload))
        }
        return calls
    }

    /// The method names' bytes, kept alive for the process.
    nonisolated(unsafe) static let methodBytes: [UnsafeRawBufferPointer] = methods.map { name in
        let bytes = Array(name.utf8)
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
        p.copyMemory(from: bytes, byteCount: bytes.count)
        return UnsafeRawBufferPointer(start: p, count: bytes.count)
    }

    /// Topic prefixes of the frame target.
    public static let topicPrefixes: [String] = ["ST/LOC/", "ST/REM/", "RAW/", "", "ST/RAR/", "ACT/unit/", "ST/", "SVC/ST"]

    /// An integer from the environment.
    public static func env(_ name: String, default d: Int) -> Int {
        guard let raw = getenv(name), let v = Int(String(cString: raw)) else { return d }
        return v
    }
}

/// A running controller on the rich config, shared by the inputs of a target
/// and replaced every `FUZZ_RESET_EVERY` inputs (default 500; 1 = a fresh
/// controller per input, for reproducing a finding deterministically), and
/// when the library asked the launcher to TERMINATE (as the node would stop
/// it). Every fourth replacement starts with what the previous controller
/// persisted to the registry, as after a node restart.
///
/// Leaks: libFuzzer's own per-input leak check cannot be used against a
/// running controller (run these targets with -detect_leaks=0): the action
/// engine queues tasks in an enum whose cases all hold a class reference,
/// and Swift keeps such an enum's tag in the pointer's spare bits, where
/// LeakSanitizer does not recognise the pointer, so a job that is only
/// queued looks leaked. Once a controller has been terminated and released,
/// nothing of it may remain: every replacement (at most every
/// `FUZZ_LEAK_CHECK_SECONDS`, default 5) runs LeakSanitizer then, and a
/// leak is a finding.
public final class SharedController {
    private var current: Session?
    public var session: Session { current! }
    private var inputs = 0
    private var resets = 0
    private let resetEvery: Int
    private let leakCheckEvery: UInt64
    private var lastLeakCheck: UInt64 = 0

    public init() {
        resetEvery = max(1, FuzzInputs.env("FUZZ_RESET_EVERY", default: 500))
        leakCheckEvery = UInt64(max(0, FuzzInputs.env("FUZZ_LEAK_CHECK_SECONDS", default: 5))) * 1_000_000_000
        fuzz_launcher_set_busy_every(UInt32(FuzzInputs.env("FUZZ_BUSY_EVERY", default: 17)))
        fuzz_launcher_set_rpc_error_every(UInt32(FuzzInputs.env("FUZZ_RPC_ERROR_EVERY", default: 5)))
        current = Self.make()
    }

    private static func make() -> Session {
        let s = Session()
        let initial = FuzzInputs.initial(config: FuzzInputs.config)
        let rc = initial.withUnsafeBytes { s.start(initial: $0) }
        if rc <= 0 || !s.ready { fuzz_violation("the fuzz config did not start") }
        // (not settling within a second is no finding: the calls then meet
        // a controller still loading, which is allowed to answer NOT_READY)
        s.waitUntilSettled()
        return s
    }

    /// Terminates and releases the controller (at exit too: the process's
    /// own leak check then sees no live controller).
    public func shutdown() {
        current?.close()
        current = nil
    }

    /// Call after each input.
    public func inputDone() {
        inputs += 1
        guard fuzz_launcher_take_terminate() != 0 || inputs % resetEvery == 0 else { return }
        shutdown()
        resets += 1
        // The next controller loads what this one persisted, but only
        // every fourth time, so the variables cannot pile up for ever.
        if resetEvery == 1 || resets % 4 != 0 { fuzz_launcher_clear_registry() }
        let now = monotonicNanoseconds()
        if now &- lastLeakCheck >= leakCheckEvery {
            lastLeakCheck = now
            if fuzz_leak_check() != 0 { fuzz_violation("memory left after svc_terminate (LeakSanitizer report above)") }
        }
        current = Self.make()
    }
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
