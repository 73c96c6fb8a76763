"""The bus figures of `make bench` (run by tests/bench-bus.sh): every case on
one busrtd in one run, measured by `abi-harness bench --bus`; ratios against
eva-ffi and the shipped native controller from the same run."""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from realnode import node as rn  # noqa: E402

BUILD = sys.argv[1]
HARNESS = os.path.join(BUILD, 'abi-harness')
LIB = os.path.join(BUILD, 'libeva-virtual-controller.so')
SECONDS = os.environ.get('BENCH_BUS_SECONDS', '3')
ITEMS = [f'sensor:bench/s{i}' for i in range(1, 1001)]
GET = '{"i": "sensor:bench/s500"}'

rn.needs_real('bench-bus', 'bin/eva-ffi', 'bin/eva-ffi-42rt', 'bin/eva-controller-virtual')


def bench(bus, target, method, params, clients, qos):
    args = [HARNESS, 'bench', '--bus', bus, '--target', target, '--call', method]
    if params:
        args.append(params)
    args += ['--clients', str(clients), '--seconds', SECONDS, '--qos', str(qos)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=float(SECONDS) * 4 + 30)
    m = re.search(r'^result: calls=(\d+) seconds=([\d.]+) calls_per_s=(\d+) p50_ns=(\d+) p99_ns=(\d+) failed=(\d+)',
                  p.stdout, re.M)
    if not m:
        return None
    return {'calls_per_s': int(m[3]), 'p50_us': int(m[4]) / 1000, 'p99_us': int(m[5]) / 1000, 'failed': int(m[6])}


def launch_built():
    try:
        p = subprocess.run([HARNESS, 'launch', '--help'], capture_output=True, text=True, timeout=10)
        return p.returncode == 0
    except Exception:
        return False


def measure(n, label, target, method, params, rows):
    for qos in (3, 1):
        one = bench(n.bus_path, target, method, params, 1, qos)
        eight = bench(n.bus_path, target, method, params, 8, qos)
        rows.append((label, qos, one, eight))
        show(rows[-1])


def show(row):
    label, qos, one, eight = row
    if not one or not eight:
        print(f'{label:<50} qos {qos}: no result (the bench failed)', flush=True)
        return
    failed = one['failed'] + eight['failed']
    print(f'{label:<50} qos {qos}: p50 {one["p50_us"]:7.1f} us (p99 {one["p99_us"]:7.1f})  '
          f'8 clients {eight["calls_per_s"]:7d} calls/s' + (f'  FAILED CALLS {failed}' if failed else ''),
          flush=True)


def ratios(rows):
    by = {(r[0], r[1]): r for r in rows if r[2] and r[3]}
    print('\nratios, same run (p50: lower is better; calls/s: higher is better)')
    for (label, qos), r in by.items():
        parts = []
        for base_label, name in (('ffi', 'eva-ffi'), ('native', 'native')):
            base = next((v for (lb, q), v in by.items() if q == qos and lb.startswith(BASES[base_label])), None)
            if base and base is not r:
                parts.append(f'p50 {r[2]["p50_us"] / base[2]["p50_us"]:.2f}x {name}, '
                             f'calls/s {r[3]["calls_per_s"] / max(base[3]["calls_per_s"], 1):.2f}x {name}')
        if parts:
            print(f'  {label:<50} qos {qos}: ' + '; '.join(parts))


BASES = {'ffi': 'our library under eva-ffi (workers 4)', 'native': 'shipped native controller'}

rows = []
with rn.Node() as n:
    print(f'bus bench: busrtd {n.bus_path}, {SECONDS} s per figure, get on 1,000 items; '
          'p50 = 1 client, calls/s = 8 clients', flush=True)
    st = subprocess.Popen([HARNESS, 'serve-test', '--bus', n.bus_path, '--name', 'bench.serve-test'],
                          stdout=subprocess.PIPE, text=True)
    st.stdout.readline()
    measure(n, 'broker alone: serve-test `test`', 'bench.serve-test', 'test', None, rows)
    st.terminate()
    st.wait()

    ctl = n.start_service('eva.controller.native', [rn.shipped_controller()], config={'auto_create': True})
    ctl.wait_ready(10)
    # the shipped build takes its items from `set` with auto_create (see tests/busrt_suite.py)
    n.call_when_ready(ctl.id, 'test')
    for oid in ITEMS:
        n.call(ctl.id, 'set', {'i': oid, 'status': 1})
    measure(n, BASES['native'] + ' `get`', ctl.id, 'get', GET, rows)
    ctl.stop()

    ffi = n.start_service('eva.controller.ffi', [rn.ffi_launcher(), LIB], config={'items': ITEMS}, workers=4)
    ffi.wait_ready(10)
    n.call_when_ready(ffi.id, 'get', {'i': 'sensor:bench/s500'})
    measure(n, 'eva-ffi answering `test` itself', ffi.id, 'test', None, rows)
    measure(n, BASES['ffi'] + ' `get`', ffi.id, 'get', GET, rows)
    ffi.stop()

    rt = n.start_service('eva.controller.ffi42', [rn.ffi_launcher(rt42=True), LIB], config={'items': ITEMS},
                         workers=1)
    rt.wait_ready(10)
    n.call_when_ready(rt.id, 'get', {'i': 'sensor:bench/s500'})
    measure(n, 'our library under eva-ffi-42rt (workers 1) `get`', rt.id, 'get', GET, rows)
    rt.stop()

    if launch_built():
        la = n.start_service('eva.controller.launch', [HARNESS, 'launch', LIB], config={'items': ITEMS}, workers=4)
        if la.wait_ready(10):
            n.call_when_ready(la.id, 'get', {'i': 'sensor:bench/s500'})
            measure(n, 'our library under abi-harness launch (w 4) `get`', la.id, 'get', GET, rows)
        else:
            print('abi-harness launch: the service did not get ready: ' + la.stderr_text()[-300:])
        la.stop()
    else:
        print('our library under abi-harness launch: not built (abi-harness launch --help fails)')
ratios(rows)
