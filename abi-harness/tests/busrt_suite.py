"""The BUS/RT client of abi-harness (src/busrt) and its bus commands against
the real broker: run by busrt.sh (which builds the probe), one PASS/FAIL line
per test. Uses the shared fixture tests/realnode/node.py for busrtd, the
stand-ins and the start of the shipped controller."""

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
from realnode import node as rn  # noqa: E402

import busrt  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build')
HARNESS = os.path.join(BUILD, 'abi-harness')
PROBE = os.path.join(BUILD, 'busrt-probe')
EXIT_FAILED, EXIT_REFUSED, EXIT_LOST = 1, 7, 8

rn.needs_real('busrt')
res = rn.Results()


def harness(*args, timeout=30):
    t0 = time.monotonic()
    p = subprocess.run([HARNESS, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def reply_line(out):
    lines = [json.loads(x) for x in out.splitlines() if x.startswith('{')]
    return lines[0] if len(lines) == 1 else None


class PyService:
    """A Python busrt RPC service: echo, fail (NOT_FOUND + message), boom
    (a Python exception), slow (10 s)."""

    def __init__(self, path, name):
        self.c = busrt.client.Client(path, name)
        self.c.timeout = 5
        self.c.connect()
        self.rpc = busrt.rpc.Rpc(self.c)
        self.rpc.on_call = self.on_call

    def on_call(self, ev):
        m = ev.method.decode()
        if m == 'echo':
            return ev.get_payload()
        if m == 'fail':
            raise busrt.rpc.RpcException('item not found', -32001)
        if m == 'boom':
            raise RuntimeError('generic boom')
        if m == 'slow':
            time.sleep(10)
            return None
        raise busrt.rpc.RpcException('', -32601)

    def close(self):
        try:
            self.c.disconnect()
        except Exception:
            pass


def serve_test(bus, name):
    p = subprocess.Popen([HARNESS, 'serve-test', '--bus', bus, '--name', name],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    return p, line == 'ready'


def run_probe(kind, addr, label):
    exe = os.path.join(PROBE, f'probe-{kind}')
    p = subprocess.run([exe, 'client', addr], capture_output=True, text=True, timeout=120)
    lines = [ln.replace('busrt/client/', f'busrt/client-{label}/') for ln in p.stdout.splitlines()
             if ln.startswith(('PASS ', 'FAIL '))]
    for ln in lines:
        print(ln, flush=True)
        if ln.startswith('FAIL '):
            res.failed += 1
    res.check(f'busrt/client-{label}/sanitizer-clean',
              'Sanitizer' not in p.stderr and p.returncode == 0 and lines,
              f'exit {p.returncode}: {p.stderr[-600:]}')


def test_client(n):
    run_probe('thread', n.bus_path, 'unix-tsan')
    run_probe('address', n.bus_tcp, 'tcp-asan')


def test_call_serve_test(n):
    p, ready = serve_test(n.bus_path, 'busrt.test.st')
    res.check('busrt/serve-test-ready', ready, 'no "ready" line')
    rc, out, err, _ = harness('call', '--bus', n.bus_path, 'busrt.test.st', 'test')
    res.check('busrt/call-serve-test', rc == 0 and reply_line(out) == {'reply': 'test', 'code': 0},
              f'exit {rc}, out {out!r}, err {err!r}')
    rc, out, err, _ = harness('call', '--bus', n.bus_tcp, '--qos', '3', 'busrt.test.st', 'nope')
    res.check('busrt/call-serve-test-unknown-method',
              rc == EXIT_FAILED and reply_line(out) == {'reply': 'nope', 'code': -32601, 'error': 'METHOD_NOT_FOUND'}
              and 'METHOD_NOT_FOUND (-32601)' in err, f'exit {rc}, out {out!r}, err {err!r}')
    p2 = subprocess.run([HARNESS, 'serve-test', '--bus', n.bus_path, '--name', 'busrt.test.st'],
                        capture_output=True, text=True, timeout=10)
    res.check('busrt/duplicate-name', p2.returncode == EXIT_REFUSED and 'already registered' in p2.stderr,
              f'exit {p2.returncode}, err {p2.stderr!r}')
    rc, out, err, _ = harness('call', '--bus', n.bus_path, '--name', 'eva.core', 'busrt.test.st', 'test')
    res.check('busrt/call-duplicate-name', rc == EXIT_REFUSED and 'BUS_BUSY' in err, f'exit {rc}, err {err!r}')
    rc, out, err, _ = harness('call', '--bus', n.bus_path, '--name', '.x', 'busrt.test.st', 'test')
    res.check('busrt/call-invalid-name', rc == EXIT_REFUSED and 'BUS_DATA' in err, f'exit {rc}, err {err!r}')
    rc, out, err, _ = harness('bench', '--bus', n.bus_path, '--target', 'busrt.test.st', '--call', 'test',
                              '--clients', '2', '--seconds', '1', '--qos', '3')
    m = re.search(r'^result: calls=(\d+) seconds=([\d.]+) calls_per_s=(\d+) p50_ns=(\d+) p99_ns=(\d+) failed=(\d+)$',
                  out, re.M)
    res.check('busrt/bench-serve-test', rc == 0 and m and int(m[1]) > 0 and int(m[6]) == 0 and int(m[4]) > 0,
              f'exit {rc}, out {out!r}, err {err!r}')
    rc, out, err, _ = harness('bench', '--bus', n.bus_path, '--target', 'busrt.test.absent', '--call', 'test',
                              '--seconds', '0.3')
    m = re.search(r'^result: calls=0 .* failed=(\d+)$', out, re.M)
    res.check('busrt/bench-failed-calls-reported',
              rc == EXIT_FAILED and m and int(m[1]) > 0 and 'BUS_CLIENT_NOT_REGISTERED' in out,
              f'exit {rc}, out {out!r}')
    p.terminate()
    res.check('busrt/serve-test-sigterm', p.wait(5) == 0, f'exit {p.returncode}')


def test_call_python(n):
    svc = PyService(n.bus_path, 'busrt.test.py')
    try:
        rc, out, err, _ = harness('call', '--bus', n.bus_tcp, 'busrt.test.py', 'echo', '{"a": [1, 2, "x"], "b": null}')
        res.check('busrt/call-python-reply',
                  rc == 0 and reply_line(out) == {'reply': 'echo', 'code': 0, 'payload': {'a': [1, 2, 'x'], 'b': None}},
                  f'exit {rc}, out {out!r}, err {err!r}')
        rc, out, err, _ = harness('call', '--bus', n.bus_path, 'busrt.test.py', 'fail')
        res.check('busrt/call-python-error',
                  rc == EXIT_FAILED and reply_line(out) == {'reply': 'fail', 'code': -32001, 'error': 'NOT_FOUND'}
                  and 'NOT_FOUND (-32001): item not found' in err, f'exit {rc}, out {out!r}, err {err!r}')
        rc, out, err, _ = harness('call', '--bus', n.bus_path, 'busrt.test.py', 'boom')
        res.check('busrt/call-python-exception', rc == EXIT_FAILED and reply_line(out)['code'] == -32603
                  and 'generic boom' in err, f'exit {rc}, out {out!r}, err {err!r}')
        rc, out, err, el = harness('call', '--bus', n.bus_path, '--timeout', '5', 'busrt.test.absent', 'test')
        res.check('busrt/call-absent-qos1-at-once',
                  rc == EXIT_FAILED and reply_line(out) == {'reply': 'test', 'code': -32113,
                                                            'error': 'BUS_CLIENT_NOT_REGISTERED'} and el < 1.5,
                  f'exit {rc} after {el:.2f}s, out {out!r}')
        rc, out, err, el = harness('call', '--bus', n.bus_path, '--qos', '0', '--timeout', '0.5',
                                   'busrt.test.absent', 'test')
        res.check('busrt/call-absent-qos0-timeout',
                  rc == EXIT_FAILED and reply_line(out) == {'reply': 'test', 'code': -32008, 'error': 'TIMEOUT'}
                  and 0.5 <= el < 2.0, f'exit {rc} after {el:.2f}s, out {out!r}')
        rc, out, err, el = harness('call', '--bus', n.bus_path, '--timeout', '0.5', 'busrt.test.py', 'slow')
        res.check('busrt/call-slow-service-timeout', rc == EXIT_FAILED and reply_line(out)['code'] == -32008
                  and el < 2.0, f'exit {rc} after {el:.2f}s, out {out!r}')
        rc, out, err, _ = harness('call', '--bus', '/nonexistent/bus.ipc', 'x', 'test')
        res.check('busrt/call-no-broker', rc == EXIT_LOST and 'cannot connect' in err, f'exit {rc}, err {err!r}')
        rc, out, err, _ = harness('call', '--bus', n.bus_path, 'x', 'test', '{bad')
        res.check('busrt/call-bad-params', rc == 2 and 'params' in err, f'exit {rc}, err {err!r}')
    finally:
        svc.close()


def test_controller(n):
    if rn.missing_real('busrt/call-shipped-controller', 'bin/eva-controller-virtual'):
        if os.environ.get('CI') == 'true':
            res.failed += 1
        return
    ctl = rn.shipped_controller()
    # (the shipped 4.1 build here answers `list` with [] for a config `items:`
    # list; its items come from `set` with auto_create)
    svc = n.start_service('eva.controller.busrt', [ctl], config={'auto_create': True})
    try:
        if not res.check('busrt/shipped-controller-ready', svc.wait_ready(10), svc.stderr_text()[-400:]):
            return
        deadline = time.monotonic() + 5
        while True:
            rc, out, err, _ = harness('call', '--bus', n.bus_path, 'eva.controller.busrt', 'set',
                                      '{"i": "sensor:tests/s1", "status": 1, "value": 42.5}')
            if '-32005' not in out or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        res.check('busrt/call-shipped-controller-set', rc == 0 and reply_line(out) == {'reply': 'set', 'code': 0},
                  f'exit {rc}, out {out!r}, err {err!r}')
        rc, out, err, _ = harness('call', '--bus', n.bus_path, 'eva.controller.busrt', 'get',
                                  '{"i": "sensor:tests/s1"}')
        res.check('busrt/call-shipped-controller-get',
                  rc == 0 and reply_line(out) == {'reply': 'get', 'code': 0,
                                                  'payload': {'oid': 'sensor:tests/s1', 'status': 1, 'value': 42.5}},
                  f'exit {rc}, out {out!r}, err {err!r}')
        rc, out, err, _ = harness('call', '--bus', n.bus_path, 'eva.controller.busrt', 'get',
                                  '{"i": "sensor:tests/none"}')
        res.check('busrt/call-shipped-controller-not-found',
                  rc == EXIT_FAILED and reply_line(out) and reply_line(out)['code'] == -32001 and 'NOT_FOUND' in err,
                  f'exit {rc}, out {out!r}, err {err!r}')
    finally:
        svc.stop()


def test_broker_gone():
    with rn.Node() as n:
        svc = PyService(n.bus_path, 'busrt.test.slow')
        st, ready = serve_test(n.bus_path, 'busrt.test.st2')
        call = subprocess.Popen([HARNESS, 'call', '--bus', n.bus_path, '--timeout', '30', 'busrt.test.slow', 'slow'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        probe = subprocess.Popen([os.path.join(PROBE, 'probe-thread'), 'gone', n.bus_path],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        probe.stdout.readline()
        time.sleep(0.5)
        t0 = time.monotonic()
        n.kill_broker()
        try:
            out, err = call.communicate(timeout=5)
            el = time.monotonic() - t0
            res.check('busrt/call-broker-killed', call.returncode == EXIT_LOST and 'went away' in err and el < 2,
                      f'exit {call.returncode} after {el:.2f}s, err {err!r}')
        except subprocess.TimeoutExpired:
            call.kill()
            res.check('busrt/call-broker-killed', False, 'still waiting 5 s after the broker died')
        try:
            st.wait(5)
            res.check('busrt/serve-test-broker-killed', ready and st.returncode == EXIT_LOST,
                      f'exit {st.returncode}')
        except subprocess.TimeoutExpired:
            st.kill()
            res.check('busrt/serve-test-broker-killed', False, 'still running 5 s after the broker died')
        try:
            out, err = probe.communicate(timeout=5)
            m = re.search(r'gone code=(-?\d+) seconds=([\d.]+) disconnected=(\d) after=(-?\d+)', out)
            res.check('busrt/client-broker-killed-waiters-fail',
                      m and int(m[1]) == -32115 and int(m[3]) == 1 and int(m[4]) == -32115
                      and 'Sanitizer' not in err, f'{out!r} {err[-400:]!r}')
        except subprocess.TimeoutExpired:
            probe.kill()
            res.check('busrt/client-broker-killed-waiters-fail', False, 'the probe still waits')
        svc.close()


with rn.Node() as node:
    test_client(node)
    test_call_serve_test(node)
    test_call_python(node)
    test_controller(node)
test_broker_gone()
res.exit()
