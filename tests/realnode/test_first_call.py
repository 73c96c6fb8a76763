"""The first var.* call right after SVC/ST ready, under the real launcher
(eva-ffi 4.1 and the 4.2 runtime rule, workers 1 and 2): how long it takes,
against the second call as the baseline of one round trip.

In `make test` it checks what the first call answers (the variables loaded,
not NOT_READY) and prints the figures; a time is no test verdict there.
`make bench` runs it with TARGET_MS=5 (issue 14's target; it took ~52 ms
while the load waited 50 ms after launch): one PASS/FAIL line per runtime
on the median of RUNS starts."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node import Node, Results, needs_real, ffi_launcher  # noqa: E402

needs_real('first-call', 'bin/eva-ffi', 'bin/eva-ffi-42rt')
BUILD = os.environ.get('BUILD') or os.path.join(os.path.dirname(__file__), '..', '..', 'build')
LIB = os.path.abspath(os.path.join(BUILD, 'libeva-virtual-controller.so'))
RUNS = int(os.environ.get('RUNS', '3'))
TARGET_MS = float(os.environ['TARGET_MS']) if os.environ.get('TARGET_MS') else None
r = Results()
if not os.path.exists(LIB):
    r.check('first-call/library', False, f'{LIB} missing (make library)')
    r.exit()


def timed(n, svc_id, method, params):
    t0 = time.perf_counter()
    res = n.call(svc_id, method, params)
    return (time.perf_counter() - t0) * 1000, res


with Node() as n:
    # the registry answers at once and holds something to load
    for rt42 in (False, True):
        for workers in (1, 2):
            name = f'first-call/{"eva-ffi-42rt" if rt42 else "eva-ffi"}/workers-{workers}'
            firsts, seconds, bad = [], [], []
            for run in range(RUNS):
                svc_id = f'test.first.{int(rt42)}{workers}{run}'
                n.registry[f'eva/svc_data/{svc_id}/vars'] = {'loaded': run}
                s = n.start_service(svc_id, [ffi_launcher(rt42), LIB], workers=workers,
                                    config={'persist_interval': 60})
                if not s.wait_ready(10):
                    bad.append(f'run {run}: not ready: {s.stderr_text()[-300:]}')
                    s.kill()
                    continue
                first, res1 = timed(n, svc_id, 'var.set', {'i': 'x', 'value': run})
                second, res2 = timed(n, svc_id, 'var.set', {'i': 'x', 'value': run + 1})
                got = n.call(svc_id, 'var.get', {'i': 'loaded'})
                if res1 != (0, None) or res2 != (0, None) or got != (0, run):
                    bad.append(f'run {run}: answers {res1}, {res2}, loaded {got}')
                firsts.append(first)
                seconds.append(second)
                s.stop()
            if not firsts:
                r.check(name, False, '; '.join(bad))
                continue
            med = statistics.median(firsts)
            print(f'{name}: first var.set after ready: median {med:.2f} ms, max {max(firsts):.2f} ms '
                  f'({", ".join(f"{x:.2f}" for x in firsts)}); second call: median '
                  f'{statistics.median(seconds):.2f} ms; {len(firsts)} runs', flush=True)
            if bad or TARGET_MS is None:
                r.check(name, not bad, '; '.join(bad))
            else:
                r.check(f'{name}/within-{TARGET_MS:g}-ms', med <= TARGET_MS, f'median {med:.2f} ms > {TARGET_MS:g} ms')
r.exit()
