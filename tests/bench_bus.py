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
SECONDS = os.environ.get('BENCH_BUS_SECONDS', '2')
ROUNDS = int(os.environ.get('BENCH_BUS_ROUNDS', '3'))
SOAK = int(os.environ.get('BENCH_BUS_SOAK', '0'))
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


def rss_kib(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            return int(next(ln.split()[1] for ln in f if ln.startswith('VmRSS:')))
    except (OSError, StopIteration):
        return -1


def soak(n, svc):
    """8 clients for SOAK seconds under launch: failed calls and the RSS of
    the launch process sampled every 5 s (flat = no growth after warm-up)."""
    args = [HARNESS, 'bench', '--bus', n.bus_path, '--target', svc.id, '--call', 'get', GET,
            '--clients', '8', '--seconds', str(SOAK), '--qos', '3']
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    samples = []
    while p.poll() is None:
        samples.append(rss_kib(svc.proc.pid))
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
    out = p.stdout.read()
    m = re.search(r'^result: .*$', out, re.M)
    print(f'\nsoak under launch, 8 clients, {SOAK} s, QoS 3: {m[0] if m else "no result"}')
    print('  launch RSS KiB every 5 s: ' + ' '.join(str(x) for x in samples), flush=True)


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def measure_rounds(n, cases):
    """Every case in every round, rounds interleaved (a drifting machine load
    hits all cases alike); per figure the median of the rounds."""
    got = {}
    for r in range(ROUNDS):
        for label, target, method, params in cases:
            for qos in (3, 1):
                one = bench(n.bus_path, target, method, params, 1, qos)
                eight = bench(n.bus_path, target, method, params, 8, qos)
                got.setdefault((label, qos), []).append((one, eight))
        print(f'round {r + 1} of {ROUNDS} done', flush=True)
    rows = []
    for label, _, _, _ in cases:
        for qos in (3, 1):
            runs = got[(label, qos)]
            if any(not a or not b for a, b in runs):
                rows.append((label, qos, None, None))
            else:
                one = {'p50_us': median([a['p50_us'] for a, _ in runs]),
                       'p99_us': median([a['p99_us'] for a, _ in runs]),
                       'failed': sum(a['failed'] for a, _ in runs)}
                eight = {'calls_per_s': median([b['calls_per_s'] for _, b in runs]),
                         'failed': sum(b['failed'] for _, b in runs)}
                rows.append((label, qos, one, eight))
            show(rows[-1])
    return rows


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


LAUNCH = 'our library under abi-harness launch (w 4) `get`'
def targets(rows):
    """Issue 15's targets at QoS 3: met or missed, from this run's figures."""
    by = {(r[0], r[1]): r for r in rows if r[2] and r[3]}
    la, ffi = by.get((LAUNCH, 3)), by.get((BASES['ffi'] + ' `get`', 3))
    nat = by.get((BASES['native'] + ' `get`', 3))
    if not la or not ffi or not nat:
        return
    print('\ntargets (QoS 3, this run):')
    for what, got, limit, low in (
            ('launch p50 vs eva-ffi', la[2]['p50_us'] / ffi[2]['p50_us'], 0.8, True),
            ('launch p50 vs native', la[2]['p50_us'] / nat[2]['p50_us'], 1.0, True),
            ('launch calls/s (8 clients) vs eva-ffi', la[3]['calls_per_s'] / max(ffi[3]['calls_per_s'], 1), 1.3,
             False)):
        met = got <= limit if low else got >= limit
        print(f'  {what}: {got:.2f}x (target {"<=" if low else ">="} {limit}): {"met" if met else "missed"}')


BASES = {'ffi': 'our library under eva-ffi (workers 4)', 'native': 'shipped native controller'}

with rn.Node() as n:
    print(f'bus bench: one busrtd, {ROUNDS} rounds of {SECONDS} s per figure (medians), get on 1,000 items; '
          'p50 = 1 client, calls/s = 8 clients; load average %.1f (a busy machine makes the figures noisy)'
          % os.getloadavg()[0], flush=True)
    # every service up at once, so the rounds can interleave the cases
    st = subprocess.Popen([HARNESS, 'serve-test', '--bus', n.bus_path, '--name', 'bench.serve-test'],
                          stdout=subprocess.PIPE, text=True)
    st.stdout.readline()
    cases = [('broker alone: serve-test `test`', 'bench.serve-test', 'test', None)]
    ctl = n.start_service('eva.controller.native', [rn.shipped_controller()], config={'auto_create': True})
    ffi = n.start_service('eva.controller.ffi', [rn.ffi_launcher(), LIB], config={'items': ITEMS}, workers=4)
    rt = n.start_service('eva.controller.ffi42', [rn.ffi_launcher(rt42=True), LIB], config={'items': ITEMS},
                         workers=1)
    la = la1 = None
    if launch_built():
        la = n.start_service('eva.controller.launch', [HARNESS, 'launch', LIB], config={'items': ITEMS},
                             workers=4)
        la1 = n.start_service('eva.controller.launch1', [HARNESS, 'launch', LIB], config={'items': ITEMS},
                              workers=1)
    for svc in (ctl, ffi, rt, la, la1):
        if svc and not svc.wait_ready(10):
            print(f'{svc.id}: not ready: {svc.stderr_text()[-300:]}')
    # the shipped build takes its items from `set` with auto_create (see
    # abi-harness/tests/busrt_suite.py)
    n.call_when_ready(ctl.id, 'test')
    for oid in ITEMS:
        n.call(ctl.id, 'set', {'i': oid, 'status': 1})
    cases.append((BASES['native'] + ' `get`', ctl.id, 'get', GET))
    for svc in (ffi, rt, la, la1):
        if svc:
            n.call_when_ready(svc.id, 'get', {'i': 'sensor:bench/s500'})
    cases.append(('eva-ffi answering `test` itself', ffi.id, 'test', None))
    cases.append((BASES['ffi'] + ' `get`', ffi.id, 'get', GET))
    cases.append(('our library under eva-ffi-42rt (workers 1) `get`', rt.id, 'get', GET))
    if la:
        cases.append((LAUNCH, la.id, 'get', GET))
        cases.append(('our library under abi-harness launch (w 1) `get`', la1.id, 'get', GET))
    else:
        print('our library under abi-harness launch: not built (abi-harness launch --help fails)')
    rows = measure_rounds(n, cases)
    if la and SOAK > 0:
        soak(n, la)
    st.terminate()
    st.wait()
ratios(rows)
targets(rows)
