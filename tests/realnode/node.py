"""A node around the real EVA ICS components, for tests.

Plays what an EVA ICS v4 node does around a service (../shared/real/README.md,
../shared/spec/abi-and-launcher.md): the real BUS/RT broker (busrtd), stand-ins
for `eva.core` and `eva.registry` on that bus, and the start of a service:
the initial payload on stdin (0x01, u32 LE size, MessagePack), 0x00 beacons
after each successful `test` ping, SIGTERM to stop. A recorder subscribed to
`#` keeps every publication in arrival order.

The stand-ins are ours (test code); busrtd, eva-ffi, eva-ffi-42rt and the
shipped controller come from ../shared/real (or $REAL_DIR; busrtd from
$BUSRTD). Where they are missing, needs_real() prints one line and the test
is not counted; under CI=true that is a failure.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import busrt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NOT_FOUND = -32001
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601


def real_dir():
    """The folder of the real components, or None."""
    d = os.environ.get('REAL_DIR') or os.path.join(ROOT, '..', 'shared', 'real')
    d = os.path.abspath(d)
    return d if os.path.isdir(os.path.join(d, 'bin')) else None


def real_path(*parts):
    d = real_dir()
    p = os.path.join(d, *parts) if d else None
    return p if p and os.path.exists(p) else None


def busrtd_path():
    return os.environ.get('BUSRTD') or real_path('bin', 'busrtd')


def missing_real(name, *files):
    """True, after one line saying so, when busrtd or one of `files` (paths
    under the real folder, e.g. 'bin/eva-ffi') is missing: a NEEDS line that
    counts nothing, or under CI=true a FAIL line (CI must have them)."""
    missing = []
    if not busrtd_path() or not os.access(busrtd_path(), os.X_OK):
        missing.append('busrtd')
    for f in files:
        if not real_path(*f.split('/')):
            missing.append(f)
    if not missing:
        return False
    why = ', '.join(missing)
    if os.environ.get('CI') == 'true':
        print(f'FAIL {name}: needs the real components ({why}); CI must have ../shared/real')
    else:
        print(f'NEEDS busrtd: {name} needs {why} (set BUSRTD=/path/busrtd or REAL_DIR=/path/real)')
    return True


def needs_real(name, *files):
    """Exits the test script (counting nothing; under CI=true failing) when
    busrtd or one of `files` is missing."""
    if missing_real(name, *files):
        sys.exit(1 if os.environ.get('CI') == 'true' else 0)


def pack(v):
    return msgpack.packb(v, use_bin_type=True)


def unpack(b):
    return msgpack.unpackb(b, raw=False, strict_map_key=False)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class _RpcError(Exception):
    def __init__(self, code, msg=''):
        super().__init__(msg)
        self.rpc_error_code = code
        self.rpc_error_payload = msg


class Node:
    """busrtd + eva.core + eva.registry + a recorder. Use as a context manager.

    Several Node instances on the same eva_dir share the registry (it is kept
    in <eva_dir>/registry.json), as restarts of one node do."""

    def __init__(self, eva_dir=None, core_active=True):
        # a folder made here is removed at close (REALNODE_KEEP=1 keeps it)
        self._own_dir = not eva_dir
        self.eva_dir = os.path.abspath(eva_dir) if eva_dir else tempfile.mkdtemp(prefix='realnode-')
        self.core_active = core_active
        self.frames = []
        self.services = []
        self._frames_cv = threading.Condition()
        self._reg_lock = threading.Lock()
        self._clients = []
        self.busrtd = None
        self.registry = {}
        self.registry_calls = []
        # what the core holds: raw states taken while it is active
        self.items = {}

    # the node
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        os.makedirs(os.path.join(self.eva_dir, 'var'), exist_ok=True)
        self.bus_path = os.path.join(self.eva_dir, 'var', 'bus.ipc')
        self.bus_tcp = f'127.0.0.1:{_free_port()}'
        self._load_registry()
        self.start_broker()
        core = self._rpc_client('eva.core', self._on_core_call)
        reg = self._rpc_client('eva.registry', self._on_registry_call)
        self._core, self._reg = core, reg
        rec = self._client('realnode.recorder')
        rec.on_frame = self._on_frame
        rec.subscribe(['#']).wait_completed(timeout=5)
        self._caller = self._rpc_client('realnode.caller', None)
        return self

    def start_broker(self):
        if os.path.exists(self.bus_path):
            os.unlink(self.bus_path)
        self._broker_log = open(os.path.join(self.eva_dir, 'busrtd.log'), 'ab')
        self.busrtd = subprocess.Popen([busrtd_path(), '-B', self.bus_path, '-B', self.bus_tcp],
                                       stdout=self._broker_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.bus_path)
                host, port = self.bus_tcp.rsplit(':', 1)
                with socket.create_connection((host, int(port)), timeout=1):
                    pass
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError('busrtd did not start')

    def kill_broker(self):
        if self.busrtd and self.busrtd.poll() is None:
            self.busrtd.kill()
            self.busrtd.wait()

    def close(self):
        for s in list(self.services):
            s.stop(timeout=3)
        for c in self._clients:
            try:
                c.disconnect()
            except Exception:
                pass
        self.kill_broker()
        if self._own_dir and not os.environ.get('REALNODE_KEEP'):
            shutil.rmtree(self.eva_dir, ignore_errors=True)

    def _client(self, name):
        c = busrt.client.Client(self.bus_path, name)
        c.timeout = 5
        c.connect()
        self._clients.append(c)
        return c

    def _rpc_client(self, name, on_call):
        c = self._client(name)
        rpc = busrt.rpc.Rpc(c)
        if on_call:
            def handler(event):
                try:
                    return on_call(event.method.decode(), event.get_payload())
                except _RpcError as e:
                    raise busrt.rpc.RpcException(e.rpc_error_payload, e.rpc_error_code)
            rpc.on_call = handler
        return rpc

    # the stand-ins
    def _on_core_call(self, method, payload):
        if method == 'test':
            return pack({'active': bool(self.core_active), 'build': 2026120100,
                         'version': '4.1.0', 'system_name': 'realnode', 'time': time.time()})
        if method == 'item.state':
            params = unpack(payload) if payload else {}
            want = params.get('i') if isinstance(params, dict) else None
            with self._frames_cv:
                items = sorted(self.items.items())
            return pack([dict(st, oid=oid) for oid, st in items
                         if want in (None, '#', '*') or oid == want])
        raise _RpcError(METHOD_NOT_FOUND, 'method not found')

    def _registry_file(self):
        return os.path.join(self.eva_dir, 'registry.json')

    def _load_registry(self):
        try:
            with open(self._registry_file()) as f:
                self.registry = json.load(f)
        except FileNotFoundError:
            self.registry = {}

    def save_registry(self):
        """Writes node.registry to disk (after a test edited it by hand)."""
        with self._reg_lock:
            tmp = self._registry_file() + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(self.registry, f, sort_keys=True)
            os.replace(tmp, self._registry_file())

    def _on_registry_call(self, method, payload):
        params = unpack(payload) if payload else None
        if not isinstance(params, dict) or not isinstance(params.get('key'), str):
            raise _RpcError(INVALID_PARAMS, 'key required')
        key = params['key']
        self.registry_calls.append((method, key))
        if method == 'key_get':
            with self._reg_lock:
                if key not in self.registry:
                    raise _RpcError(NOT_FOUND, f'key not found: {key}')
                return pack(self.registry[key])
        if method == 'key_set':
            with self._reg_lock:
                self.registry[key] = params.get('value')
            self.save_registry()
            # a MessagePack nil, not an empty reply: the shipped controller
            # decodes the answer and exits 1 on an empty one
            return pack(None)
        if method == 'key_delete':
            with self._reg_lock:
                self.registry.pop(key, None)
            self.save_registry()
            return pack(None)
        raise _RpcError(METHOD_NOT_FOUND, 'method not found')

    # the recorder
    def _on_frame(self, frame):
        with self._frames_cv:
            self.frames.append((frame.sender, frame.topic, bytes(frame.payload)))
            if self.core_active:
                self._take_raw(frame.topic, bytes(frame.payload))
            self._frames_cv.notify_all()

    def _take_raw(self, topic, payload):
        # as the core: RAW/<kind>/<path> one state, bulk RAW a list with oids
        try:
            if topic.startswith('RAW/'):
                kind, path = topic[4:].split('/', 1)
                st = unpack(payload)
                self.items[f'{kind}:{path}'] = {'status': st.get('status'), 'value': st.get('value')}
            elif topic == 'RAW':
                for st in unpack(payload):
                    self.items[st['oid']] = {'status': st.get('status'), 'value': st.get('value')}
        except Exception:
            pass

    def mark(self):
        """The index of the next frame: frames_since(mark) reads what came after."""
        with self._frames_cv:
            return len(self.frames)

    def frames_since(self, mark=0):
        with self._frames_cv:
            return list(self.frames[mark:])

    def wait_frame(self, pred, timeout=5, since=0):
        """The first frame from `since` on for which pred(sender, topic, payload)
        is true, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        i = since
        with self._frames_cv:
            while True:
                while i < len(self.frames):
                    if pred(*self.frames[i]):
                        return self.frames[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._frames_cv.wait(left)

    # calls
    def call(self, target, method, params=None, timeout=5, raw=False):
        """(0, result) or (code, message). `params`: a value to pack, or bytes
        as they are with raw=True; None sends no payload."""
        body = b'' if params is None else (params if raw else pack(params))
        req = busrt.rpc.Request(method, body)
        try:
            ev = self._caller.call(target, req).wait_completed(timeout=timeout)
        except busrt.rpc.RpcException as e:
            msg = e.rpc_error_payload
            return e.rpc_error_code, (msg.decode(errors='replace') if isinstance(msg, bytes) else msg)
        except TimeoutError:
            return -32008, 'timeout (the caller\'s)'
        data = ev.get_payload()
        return 0, (unpack(data) if data else None)

    def call_when_ready(self, target, method, params=None, timeout=5):
        """As call, repeated while the answer is NOT_READY (-32005), for at
        most `timeout` seconds: a service may answer so for a while after
        SVC/ST ready (the shipped controller does)."""
        deadline = time.monotonic() + timeout
        while True:
            res = self.call(target, method, params)
            if res[0] != -32005 or time.monotonic() >= deadline:
                return res
            time.sleep(0.01)

    # services
    def start_service(self, svc_id, argv, config=None, workers=1, user=None, data_path=None,
                      timeout_startup=10, timeout_shutdown=5, timeout_default=2, extra=None,
                      log_level=20, beacons=True, env=None):
        svc = Service(self, svc_id, argv, config, workers, user, data_path, timeout_startup,
                      timeout_shutdown, timeout_default, extra, log_level, beacons, env)
        self.services.append(svc)
        return svc


class Service:
    """One service process started as a node starts it."""

    def __init__(self, node, svc_id, argv, config, workers, user, data_path, t_startup,
                 t_shutdown, t_default, extra, log_level, beacons, env):
        self.node, self.id, self.argv = node, svc_id, [str(a) for a in argv]
        if data_path is None:
            data_path = '' if user == 'nobody' else os.path.join(
                node.eva_dir, 'runtime', 'svc_data', svc_id)
        if data_path:
            os.makedirs(data_path, exist_ok=True)
        self.data_path = data_path
        self.timeout_shutdown = t_shutdown
        payload = {
            'version': 4, 'system_name': 'realnode', 'id': svc_id,
            'command': ' '.join(self.argv), 'prepare_command': None, 'data_path': data_path,
            'timeout': {'startup': float(t_startup), 'shutdown': float(t_shutdown),
                        'default': float(t_default)},
            'core': {'build': 2026120100, 'version': '4.1.0', 'eapi_verion': 1,
                     'path': node.eva_dir, 'log_level': log_level, 'active': bool(node.core_active)},
            'bus': {'type': 'native', 'path': node.bus_path, 'timeout': None, 'buf_size': 8192,
                    'buf_ttl': 10, 'queue_size': 8192, 'token': None},
            'config': config if config is not None else {}, 'workers': workers,
            'user': user or '', 'react_to_fail': False, 'fail_mode': False, 'fips': False,
            'call_tracing': False, 'env': {},
            'realtime': {'priority': None, 'cpu_ids': [], 'prealloc_heap': None},
            'restart_delay': 2.0,
        }
        for k, v in (extra or {}).items():
            payload[k] = v
        self.payload = payload
        base = os.path.join(node.eva_dir, f'{svc_id}.{len(node.services)}.{os.getpid()}')
        self.stdout_path, self.stderr_path = base + '.stdout', base + '.stderr'
        self._out, self._err = open(self.stdout_path, 'wb'), open(self.stderr_path, 'wb')
        self.mark = node.mark()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=self._out,
                                     stderr=self._err, cwd=node.eva_dir,
                                     env=dict(os.environ, **(env or {})))
        data = pack(payload)
        self.proc.stdin.write(b'\x01' + struct.pack('<I', len(data)) + data)
        self.proc.stdin.flush()
        self._stop = threading.Event()
        if beacons:
            threading.Thread(target=self._beacons, daemon=True).start()

    def _beacons(self):
        # the node pings with `test` and writes 0x00 after each success
        while not self._stop.wait(1.0):
            if self.proc.poll() is not None:
                return
            code, _ = self.node.call(self.id, 'test', timeout=2)
            if code == 0 and not self._stop.is_set():
                try:
                    self.proc.stdin.write(b'\x00')
                    self.proc.stdin.flush()
                except (BrokenPipeError, ValueError, OSError):
                    return

    def is_status(self, status):
        want = pack({'status': status})
        return lambda s, t, p: s == self.id and t == 'SVC/ST' and p == want

    def wait_ready(self, timeout=10):
        """True once the service published SVC/ST ready."""
        return self.node.wait_frame(self.is_status('ready'), timeout, since=self.mark) is not None

    def frames(self):
        """Publications of this service (its id or a secondary of it) since its start."""
        return [f for f in self.node.frames_since(self.mark)
                if f[0] == self.id or f[0].startswith(self.id + '%%')]

    def stop(self, timeout=None):
        """SIGTERM, then SIGKILL after `timeout` (default: timeout.shutdown + 1).
        Returns the exit code (negative: killed by that signal)."""
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout if timeout is not None else self.timeout_shutdown + 1)
            except subprocess.TimeoutExpired:
                pass  # kill() below
        return self.kill()

    def kill(self):
        """SIGKILL unless already gone; closes its files. Returns the exit code."""
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_files()
        if self in self.node.services:
            self.node.services.remove(self)
        return self.proc.returncode

    def _close_files(self):
        for f in (self.proc.stdin, self._out, self._err):
            try:
                f.close()
            except Exception:
                pass

    def stderr_text(self):
        with open(self.stderr_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def stdout_text(self):
        with open(self.stdout_path, 'rb') as f:
            return f.read().decode(errors='replace')


def ffi_launcher(rt42=False):
    """The real FFI launcher: 4.1, or with the 4.2 runtime rule."""
    return real_path('bin', 'eva-ffi-42rt' if rt42 else 'eva-ffi')


def shipped_controller():
    return real_path('bin', 'eva-controller-virtual')


class Results:
    """PASS/FAIL lines, one per test, as tests/run-all.sh counts them."""

    def __init__(self):
        self.failed = 0

    def check(self, name, ok, why=''):
        if ok:
            print(f'PASS {name}', flush=True)
        else:
            self.failed += 1
            print(f'FAIL {name}: {why}', flush=True)
        return ok

    def equal(self, name, got, want):
        return self.check(name, got == want, f'got {got!r}, want {want!r}')

    def exit(self):
        sys.exit(1 if self.failed else 0)
