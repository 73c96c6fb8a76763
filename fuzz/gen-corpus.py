#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus: fuzz/corpus/{rpc,frame,init}/.

    python3 fuzz/gen-corpus.py          # rewrites the three folders

Seeds are valid inputs in the formats of fuzz/Sources/FuzzKit/Inputs.swift:
a call of every method (and the usual mistakes), sequences that make
actions and runs meet terminate/kill, state frames of bound and unbound
items, and initial payloads with the configs of the tests and examples.
The config here mirrors FuzzInputs.config; keep the two in step.
No dependencies: a small MessagePack encoder is below.
"""
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


class Bin(bytes):
    """MessagePack bin (bytes are bin too; this makes it explicit)."""


class F32(float):
    """A float sent as float32."""


def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v < 2**8:
            return b"\xcc" + struct.pack(">B", v)
        if 0 <= v < 2**16:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        if 0 <= v < 2**64:
            return b"\xcf" + struct.pack(">Q", v)
        if -2**7 <= v:
            return b"\xd0" + struct.pack(">b", v)
        if -2**15 <= v:
            return b"\xd1" + struct.pack(">h", v)
        if -2**31 <= v:
            return b"\xd2" + struct.pack(">i", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, F32):
        return b"\xca" + struct.pack(">f", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        n = len(b)
        if n < 32:
            return bytes([0xA0 | n]) + b
        if n < 2**8:
            return b"\xd9" + bytes([n]) + b
        if n < 2**16:
            return b"\xda" + struct.pack(">H", n) + b
        return b"\xdb" + struct.pack(">I", n) + b
    if isinstance(v, (bytes, bytearray)):
        n = len(v)
        if n < 2**8:
            return b"\xc4" + bytes([n]) + bytes(v)
        if n < 2**16:
            return b"\xc5" + struct.pack(">H", n) + bytes(v)
        return b"\xc6" + struct.pack(">I", n) + bytes(v)
    if isinstance(v, (list, tuple)):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else (b"\xdc" + struct.pack(">H", n))
        return head + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        n = len(v)
        head = bytes([0x80 | n]) if n < 16 else (b"\xde" + struct.pack(">H", n))
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(type(v))


METHODS = ["list", "get", "set", "var.get", "var.set", "var.set_bulk", "var.destroy", "var.list",
           "action", "run", "terminate", "kill", "test", "info", "stop"]


def uuid(n):
    return Bin(bytes([0x5A, n]) + bytes(range(14)))


def record(method, params=None, raw_payload=None):
    """One rpc record: a known method by index, or raw method bytes."""
    if isinstance(method, bytes):
        assert len(method) < 128
        head = bytes([0x80 | len(method)]) + method
    else:
        head = bytes([METHODS.index(method)])
    payload = raw_payload if raw_payload is not None else (b"" if params is ... else pack(params))
    return head + struct.pack("<H", len(payload)) + payload


NONE = ...  # no payload


def act(n, oid, value=1, priority=100, timeout=1_000_000, **extra):
    p = {"uuid": uuid(n), "i": oid, "timeout": timeout, "priority": priority, "params": {"value": value}}
    p.update(extra)
    return p


def run(n, oid, args=None, kwargs=None, timeout=1_000_000):
    p = {"uuid": uuid(n), "i": oid, "timeout": timeout, "priority": 50}
    params = {}
    if args is not None:
        params["args"] = args
    if kwargs is not None:
        params["kwargs"] = kwargs
    if params:
        p["params"] = params
    return p


def rpc_seeds():
    s = {}
    # every method, valid
    s["list"] = record("list", NONE)
    s["get"] = record("get", {"i": "sensor:tests/temp"})
    s["get-pulled"] = record("get", {"i": "sensor:tests/p1"})
    s["set"] = record("set", {"i": "sensor:tests/temp", "status": 1, "value": 25.5})
    s["set-nil-value"] = record("set", {"i": "sensor:tests/hum", "value": None})
    s["set-status-only"] = record("set", {"i": "lvar:tests/flag", "status": -1})
    s["set-autocreate"] = record("set", {"i": "sensor:new/one", "value": [1, {"a": "b"}]})
    s["var.get"] = record("var.get", {"i": "plc"})
    s["var.get-index"] = record("var.get", {"i": "plc[1]"})
    s["var.get-range"] = record("var.get", {"i": "plc[0-1]"})
    s["var.get-from"] = record("var.get", {"i": "arr[2-]"})
    s["var.get-to"] = record("var.get", {"i": "arr[-1]"})
    s["var.set"] = record("var.set", {"i": "x", "value": 1})
    s["var.set-index"] = record("var.set", {"i": "arr[6]", "value": "y"})
    s["var.set-range"] = record("var.set", {"i": "arr[0-1]", "value": [7, 8]})
    s["var.set-new-index"] = record("var.set", {"i": "fresh[3]", "value": F32(1.5)})
    s["var.set_bulk"] = record("var.set_bulk", {"i": ["a", "arr[1]", "plc[0-1]"], "values": [1, 2, [3, 4]]})
    s["var.set_bulk-some-fail"] = record("var.set_bulk", {"i": ["ok", "bad[", "text[0-1]"], "values": [1, 2, [1, 2]]})
    s["var.destroy"] = record("var.destroy", {"i": "text"})
    s["var.list"] = record("var.list", NONE)
    s["var.list-full"] = record("var.list", {"full": True})
    s["action"] = record("action", act(1, "unit:tests/u1", 5))
    s["action-u2"] = record("action", act(2, "unit:tests/u2", "open", priority=1))
    s["action-broken"] = record("action", act(3, "unit:tests/broken"))
    s["action-autocreate"] = record("action", act(4, "unit:new/u9", 1))
    s["action-config"] = record("action", act(5, "unit:tests/slow", 2, config={"k": 1}))
    s["run"] = record("run", run(10, "lmacro:tests/m1", [5], {"kw": 3}))
    s["run-call"] = record("run", run(11, "lmacro:tests/call", ["x"]))
    s["run-callfail"] = record("run", run(12, "lmacro:tests/callfail"))
    s["run-fail"] = record("run", run(13, "lmacro:tests/fail"))
    s["run-sleepy"] = record("run", run(14, "lmacro:tests/sleepy"))
    s["run-broken"] = record("run", run(15, "lmacro:tests/broken"))
    s["terminate"] = record("action", act(20, "unit:tests/slow")) + record("terminate", {"u": uuid(20)})
    s["terminate-uuid-key"] = record("action", act(21, "unit:tests/slow")) + record("terminate", {"uuid": uuid(21)})
    s["kill"] = (record("action", act(22, "unit:tests/slow")) + record("action", act(23, "unit:tests/slow"))
                 + record("kill", {"i": "unit:tests/slow"}))
    s["kill-macro"] = record("run", run(24, "lmacro:tests/sleepy")) + record("kill", {"i": "lmacro:tests/sleepy"})
    s["terminate-run"] = record("run", run(25, "lmacro:tests/sleepy")) + record("terminate", {"u": uuid(25)})
    s["test"] = record("test", NONE)
    s["info"] = record("info", NONE)
    s["stop"] = record("stop", NONE)
    # the usual mistakes
    s["unknown-method"] = record(b"nope", {"i": "x"})
    s["method-with-nul"] = record(b"get\x00", {"i": "sensor:tests/temp"})
    s["get-no-payload"] = record("get", NONE)
    s["get-not-map"] = record("get", [1, 2])
    s["get-bad-oid"] = record("get", {"i": "sensor"})
    s["get-truncated"] = record("get", raw_payload=b"\x81\xa1i\xa5sen")
    s["list-with-payload"] = record("list", {"x": 1})
    s["action-short-uuid"] = record("action", {"uuid": Bin(b"\x00\x11"), "i": "unit:tests/u1", "timeout": 1,
                                               "priority": 1, "params": {"value": 1}})
    s["action-not-unit"] = record("action", act(30, "sensor:tests/temp"))
    s["action-timeout-zero"] = record("action", act(31, "unit:tests/slow", timeout=0))
    s["run-unknown"] = record("run", run(32, "lmacro:tests/nope"))
    s["terminate-unknown"] = record("terminate", {"u": uuid(99)})
    s["kill-unknown"] = record("kill", {"i": "unit:tests/none"})
    s["var.set-range-wrong-length"] = record("var.set", {"i": "arr[0-2]", "value": [1]})
    s["var.get-range-on-scalar"] = record("var.get", {"i": "text[0-1]"})
    s["var.destroy-range"] = record("var.destroy", {"i": "arr[0-1]"})
    s["var.set_bulk-lengths"] = record("var.set_bulk", {"i": ["a"], "values": [1, 2]})
    s["deep-nesting"] = record("var.set", raw_payload=pack({"i": "deep", "value": 0}).replace(
        b"\x00", b"\x91" * 40 + b"\x00"))
    # sequences
    s["set-then-get"] = (record("var.set", {"i": "seq[2]", "value": {"k": [1, 2]}})
                         + record("var.get", {"i": "seq[0-2]"}) + record("var.list", {"full": True}))
    s["items-roundtrip"] = (record("set", {"i": "unit:tests/u1", "status": 2, "value": "v"})
                            + record("get", {"i": "unit:tests/u1"}) + record("list", NONE))
    return s


def frame(flags, pick, raw_path=b"", payload=b""):
    return bytes([flags, pick]) + raw_path + payload


def frame_seeds():
    LOC, REM, RAW, EMPTY, RAR, ACT, ST, SVC = range(8)
    BOUND, LIST = 8, 16
    st = pack({"status": 1, "value": 25})
    s = {}
    s["loc-bound-a"] = frame(LOC | BOUND | LIST, 0, payload=st)
    s["rem-bound-arr"] = frame(REM | BOUND | LIST, 1, payload=pack({"status": 1, "value": [1, "two", None]}))
    s["loc-bound-nil-value"] = frame(LOC | BOUND | LIST, 0, payload=pack({"status": -1, "value": None}))
    s["loc-bound-no-value"] = frame(LOC | BOUND, 0, payload=pack({"status": 1}))
    s["loc-bound-big-status"] = frame(LOC | BOUND, 0, payload=pack({"status": 70000, "value": 1}))
    s["loc-bound-not-map"] = frame(LOC | BOUND, 0, payload=pack([1, 2]))
    s["loc-bound-garbage"] = frame(LOC | BOUND, 1, payload=b"\xc1\xff\x00")
    s["loc-bound-empty"] = frame(LOC | BOUND, 0)
    s["loc-bound-extra-fields"] = frame(LOC | BOUND | LIST, 0, payload=pack(
        {"status": 1, "value": {"nested": [1.5, F32(2.5)]}, "t": 1700000000.5, "ieid": [1, 2]}))
    path = b"sensor/tests/ext"
    s["loc-raw-path"] = frame(LOC, len(path), path, st)
    other = b"sensor/tests/other"
    s["loc-unbound"] = frame(LOC, len(other), other, st)
    s["rar"] = frame(RAR | BOUND, 0, payload=st)
    s["raw-topic"] = frame(RAW | BOUND, 0, payload=st)
    s["empty-topic"] = frame(EMPTY, 0, payload=st)
    s["act"] = frame(ACT, 4, b"u1/x", pack({"uuid": uuid(1), "status": 8}))
    s["st-short"] = frame(ST, 3, b"LOC", st)
    s["svc-st"] = frame(SVC, 0, payload=pack({"status": "ready"}))
    return s


RICH = {
    "items": ["sensor:tests/temp", "sensor:tests/hum", "lvar:tests/flag"],
    "auto_create": True,
    "pull": [{"var": "plc", "map": [{"oid": "sensor:tests/p0", "idx": 0}, {"oid": "sensor:tests/p1", "idx": 1}]},
             {"var": "whole", "map": [{"oid": "sensor:tests/whole"}]}],
    "pull_interval": 0.01,
    "action_map": {"unit:tests/u1": {"var": "u1_pos"}, "unit:tests/u2": {"var": "arr[3]"}},
    "vars": {"plc": [1, 2.5, "x"], "whole": 1, "arr": [0, 0, 0, 0], "text": "hello"},
    "units": {"unit:tests/u1": {"action_time": 0.001}, "unit:tests/u2": {"action_time": 0.002, "status": 2},
              "unit:tests/broken": {"fail": True}, "unit:tests/slow": {"action_time": 0.05}},
    "macros": {
        "lmacro:tests/m1": {"steps": [{"action": {"i": "unit:tests/u1", "value": "$1"}},
                                      {"set": {"i": "sensor:tests/temp", "status": 1, "value": "$1"}},
                                      {"var": {"i": "m_out", "value": "$kw"}}, {"sleep": 0.001}, {"out": "done"}]},
        "lmacro:tests/call": {"steps": [{"call": {"target": "eva.fake", "method": "echo", "params": {"x": "$1"}}}]},
        "lmacro:tests/callfail": {"steps": [{"call": {"target": "eva.fake", "method": "fail"}}]},
        "lmacro:tests/fail": {"steps": [{"fail": "boom"}]},
        "lmacro:tests/sleepy": {"steps": [{"sleep": 0.02}, {"out": 1}]},
        "lmacro:tests/broken": {"steps": [{"action": {"i": "unit:tests/broken", "value": 1}}]},
    },
    "bind": {"bound_a": "sensor:tests/ext", "bound_arr[1]": "unit:tests/ext2", "bound_b": "sensor:tests/ext"},
    "macro_workers": 2,
    "persist_interval": 0.05,
}


def initial(config, **over):
    p = {"version": 4, "system_name": "fuzz", "id": "eva.controller.fuzz", "command": "svc/eva-ffi",
         "prepare_command": None, "data_path": "",
         "timeout": {"startup": 5.0, "shutdown": 5.0, "default": 2.0},
         "core": {"build": 2024010101, "version": "4.0.2", "eapi_version": 1, "path": "/opt/eva4",
                  "log_level": 0, "active": True},
         "bus": {"type": "native", "path": "var/bus.ipc", "timeout": 5.0, "buf_ttl": 10, "buf_size": 8192,
                 "queue_size": 8192, "ping_interval": 1.0},
         "config": config, "workers": 2, "user": "", "react_to_fail": False, "fail_mode": False,
         "fips": False, "call_tracing": False}
    p.update(over)
    return pack(p)


def init_seeds():
    s = {}
    s["rich"] = initial(RICH)
    s["empty-config"] = initial({})
    s["nil-config"] = initial(None)
    s["minimal"] = pack({"id": "x"})
    s["shipped-keys"] = initial({
        "items": ["sensor:tests/temp", "sensor:tests/hum", "unit:tests/u1"],
        "pull": [{"var": "test_array1", "map": [{"oid": "sensor:tests/temp", "idx": 0},
                                                {"oid": "sensor:tests/hum", "idx": 1}]}],
        "pull_interval": 1, "action_map": {"unit:tests/u1": {"var": "test_u1"}},
        "vars": {"test_array1": [20.5, 45]}, "auto_create": True})
    s["units-macros"] = initial({
        "items": ["sensor:tests/temp"],
        "units": {"unit:tests/door": {"action_time": 0.01}, "unit:tests/broken": {"fail": True, "status": -1}},
        "macros": {"lmacro:tests/open": {"steps": [{"action": {"i": "unit:tests/door", "value": 1}},
                                                  {"sleep": 0.001}, {"set": {"i": "sensor:tests/temp", "value": "$1"}},
                                                  {"out": "done"}]}},
        "action_map": {"unit:tests/door": {"var": "door_pos"}}, "macro_workers": 3})
    s["bind"] = initial({"bind": {"env_temp": "sensor:env/temp", "remote_hum[2]": "sensor:env/hum"}})
    s["failmode"] = initial({"items": ["sensor:f/a", "unit:f/b"]}, fail_mode=True, react_to_fail=True)
    s["failmode-no-react"] = initial({"items": ["sensor:f/a"]}, fail_mode=True)
    s["vars-tags"] = initial({"vars": {"arr[3]": 1, "r[0-1]": [1, 2], "s": "x"}, "persist_interval": 0})
    s["unknown-key"] = initial({"itemz": []})
    s["newer-node"] = initial({}, realtime={"priority": 0}, restart_delay=2.0)
    s["float32-timeouts"] = initial({}, timeout={"startup": F32(1.5), "shutdown": F32(0.5), "default": 1})
    s["int-timeouts"] = initial({}, timeout={"startup": 5, "shutdown": 1, "default": 2})
    s["workers-zero"] = initial({"macros": {"lmacro:a/b": {"steps": [{"out": 1}]}}}, workers=0)
    s["log-off"] = initial({}, core={"log_level": 100, "active": False})
    s["no-id"] = pack({"version": 4, "config": {}})
    s["not-a-map"] = pack([1, 2, 3])
    return s


def nested(levels):
    v = 1
    for _ in range(levels):
        v = [v]
    return v


def regression_seeds():
    """Inputs that once found something (fuzz/regressions/, kept by hand too)."""
    return {
        # var.set of a variable that nests 31 levels (whole, and w[0] around a
        # 30-level value), then stop: the write-through at terminate nested 33
        # levels, which libmsgpack (the library reading it back) refuses.
        "rpc/deep-variable-unpersistable": (record("var.set", {"i": "keep", "value": 1})
                                            + record("var.set", {"i": "w[0]", "value": nested(30)})
                                            + record("var.set", {"i": "whole", "value": nested(31)})
                                            + record("stop", NONE)),
        # set of an item value nesting 31 levels, then list: the reply nested 33.
        "rpc/deep-item-unreadable-list": (record("set", {"i": "sensor:deep/item", "value": nested(31)})
                                          + record("list", NONE)),
    }


def write_regressions():
    for name, data in regression_seeds().items():
        path = os.path.join(HERE, "regressions", name + ".bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def write(folder, seeds):
    path = os.path.join(HERE, "corpus", folder)
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(path, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{folder}: {len(seeds)} seeds")


def dict_entry(b):
    return '"' + "".join(chr(c) if 32 <= c < 127 and chr(c) not in '"\\' else "\\x%02x" % c for c in b) + '"'


def write_dict(name, raw, strings):
    """A libFuzzer dictionary: raw tokens, and strings as MessagePack str."""
    tokens = [t.encode() if isinstance(t, str) else t for t in raw] + [pack(t) for t in strings]
    seen = []
    for t in tokens:
        if t not in seen:
            seen.append(t)
    path = os.path.join(HERE, "dict", name + ".dict")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"# libFuzzer dictionary of fuzz-{name} (written by fuzz/gen-corpus.py)\n")
        for t in seen:
            f.write(dict_entry(t) + "\n")


OIDS = ["sensor:tests/temp", "sensor:tests/hum", "lvar:tests/flag", "unit:tests/u1", "unit:tests/u2",
        "unit:tests/broken", "unit:tests/slow", "lmacro:tests/m1", "lmacro:tests/call", "lmacro:tests/sleepy",
        "sensor:tests/ext", "unit:tests/ext2"]
TAGS = ["plc", "plc[1]", "arr[0-1]", "arr[2-]", "arr[-1]", "x[1000000]", "text", "bound_a"]
MSGPACK = [b"\xc4\x10", b"\xc0", b"\xc2", b"\xc3", b"\xcb", b"\xca", b"\xcf", b"\xd3", b"\xdc", b"\xde",
           b"\xdd", b"\xdf", b"\xd9", b"\xc7", b"\xd4"]
INITIAL_KEYS = ["version", "system_name", "id", "command", "prepare_command", "data_path", "timeout", "startup",
                "shutdown", "default", "core", "build", "eapi_version", "path", "log_level", "active", "bus",
                "type", "buf_ttl", "buf_size", "queue_size", "ping_interval", "config", "workers", "user",
                "react_to_fail", "fail_mode", "fips", "call_tracing"]
CONFIG_KEYS = ["items", "auto_create", "pull", "pull_interval", "action_map", "vars", "units", "macros", "bind",
               "macro_workers", "persist_interval", "var", "map", "oid", "idx", "action_time", "fail", "status",
               "steps", "set", "action", "sleep", "call", "out", "target", "method", "params", "i", "value",
               "$1", "$2", "$name"]


def main():
    write("rpc", rpc_seeds())
    write("frame", frame_seeds())
    write("init", init_seeds())
    write_regressions()
    write_dict("rpc", METHODS + MSGPACK,
               ["i", "value", "status", "values", "full", "uuid", "u", "timeout", "priority", "params", "args",
                "kwargs", "config", "failed"] + OIDS + TAGS)
    write_dict("frame", ["ST/LOC/", "ST/REM/", "sensor/tests/ext", "unit/tests/ext2"] + MSGPACK,
               ["status", "value", "t"])
    write_dict("init", MSGPACK, INITIAL_KEYS + CONFIG_KEYS + OIDS + TAGS)
    # every method has a valid seed
    names = rpc_seeds().keys()
    missing = [m for m in METHODS if m not in names]
    if missing:
        sys.exit(f"no seed for {missing}")


if __name__ == "__main__":
    main()
