"""A switch between our controller and the shipped one on one node, and an
edit of the registry while ours is stopped (issue 14 §1, §2), against the
real launcher (eva-ffi 4.1 and the 4.2 runtime rule, workers 1 and 2) and
the shipped eva-controller-virtual, under one service id, one registry and
one service folder (runtime/svc_data/<id>):

1. ours sets a, b, c and stops cleanly;
2. the shipped controller starts on what the registry holds (workers 2:
   everything, the stop wrote it; workers 1: what the last write-through
   wrote, the documented loss), changes b, adds d, deletes c, stops;
3. ours again: another writer's changes win (b, d, c gone), ours stay (a);
4. ours sets f and stops; the registry is edited by hand (a changed, e
   added, d deleted); ours again: the edit wins, f is kept.
Variable values are read with var.get / var.list and from the registry."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node import Node, Results, needs_real, ffi_launcher, shipped_controller  # noqa: E402

needs_real('switch', 'bin/eva-ffi', 'bin/eva-ffi-42rt', 'bin/eva-controller-virtual')
BUILD = os.environ.get('BUILD') or os.path.join(os.path.dirname(__file__), '..', '..', 'build')
LIB = os.path.abspath(os.path.join(BUILD, 'libeva-virtual-controller.so'))
r = Results()
if not os.path.exists(LIB):
    r.check('switch/library', False, f'{LIB} missing (make library)')
    r.exit()

SVC = 'eva.controller.sw'
KEY = f'eva/svc_data/{SVC}/vars'
# persist_interval 60: nothing is written through during a run, so what
# reaches the registry comes from the start's catch-up and the stop.
CONFIG = {'vars': {'seed': 1}, 'persist_interval': 60}


def variables(n, svc_id):
    code, listed = n.call_when_ready(svc_id, 'var.list', {'full': True})
    if code != 0:
        return f'var.list answered {code}: {listed}'
    return {v['id']: v.get('value') for v in listed}


def loaded_line(n, svc):
    got = n.wait_frame(lambda snd, t, p: snd == svc.id and t.startswith('LOG/IN/') and b'loaded ' in p,
                       5, since=svc.mark)
    if got is None:
        return None
    text = got[2].decode(errors='replace')
    return text[text.index('loaded '):]


def ours(n, rt42, workers):
    s = n.start_service(SVC, [ffi_launcher(rt42), LIB], config=CONFIG, workers=workers)
    return s, s.wait_ready(10)


def calls(n, svc_id, name, steps):
    for method, params in steps:
        got = n.call_when_ready(svc_id, method, params)
        if got[0] != 0:
            r.check(name, False, f'{method} {params}: {got}')
            return False
    return True


for rt42 in (False, True):
    for workers in (1, 2):
        name = f'switch/{"eva-ffi-42rt" if rt42 else "eva-ffi"}/workers-{workers}'
        with Node() as n:
            # 1. ours
            s, ready = ours(n, rt42, workers)
            if not r.check(f'{name}/ours-ready', ready, s.stderr_text()[-400:]):
                continue
            # the start writes the configured seed through at once
            deadline = time.monotonic() + 5
            while n.registry.get(KEY) != {'seed': 1} and time.monotonic() < deadline:
                time.sleep(0.01)
            r.equal(f'{name}/start-writes-seed', n.registry.get(KEY), {'seed': 1})
            calls(n, SVC, f'{name}/ours-sets', [('var.set', {'i': 'a', 'value': 1}),
                                                ('var.set', {'i': 'b', 'value': 1}),
                                                ('var.set', {'i': 'c', 'value': 1})])
            r.equal(f'{name}/ours-clean-stop', s.stop(), 0)
            after_stop = dict(n.registry.get(KEY) or {})
            if workers >= 2:
                r.equal(f'{name}/stop-writes-registry', after_stop, {'a': 1, 'b': 1, 'c': 1, 'seed': 1})
            else:
                # journal only at the stop: the registry has what the start wrote
                r.equal(f'{name}/stop-journal-only', after_stop, {'seed': 1})
            # 2. the shipped controller, same id, registry and folder
            sc = n.start_service(SVC, [shipped_controller()], config={'auto_create': True}, workers=workers)
            if not r.check(f'{name}/shipped-ready', sc.wait_ready(10), sc.stderr_text()[-400:]):
                continue
            r.equal(f'{name}/shipped-sees', variables(n, SVC), after_stop)
            steps = [('var.set', {'i': 'b', 'value': 2}), ('var.set', {'i': 'd', 'value': 4})]
            if 'c' in after_stop:
                steps.append(('var.destroy', {'i': 'c'}))
            calls(n, SVC, f'{name}/shipped-edits', steps)
            r.equal(f'{name}/shipped-clean-stop', sc.stop(), 0)
            theirs = dict(n.registry.get(KEY) or {})
            # 3. ours again: their b, d (and c's deletion) win, our a stays
            want = {'a': 1, 'b': 2, 'd': 4, 'seed': 1}
            if workers < 2:
                want['c'] = 1  # the shipped controller never had c to delete
            s, ready = ours(n, rt42, workers)
            if not r.check(f'{name}/ours-again-ready', ready, s.stderr_text()[-400:]):
                continue
            r.equal(f'{name}/after-switch-back', variables(n, SVC), want)
            line = loaded_line(n, s)
            want_line = ('loaded 4 variable(s): 2 from the journal, 2 from the registry, 0 from the config; '
                         '1 deleted in the registry by another writer') if workers >= 2 else \
                ('loaded 5 variable(s): 3 from the journal, 2 from the registry, 0 from the config')
            r.check(f'{name}/load-log-line', line is not None and line.startswith(want_line),
                    f'{line!r}, want {want_line!r}; registry by the shipped controller: {theirs}')
            calls(n, SVC, f'{name}/ours-sets-f', [('var.set', {'i': 'f', 'value': 6})])
            r.equal(f'{name}/ours-clean-stop-2', s.stop(), 0)
            # 4. an edit of the registry while stopped
            with n._reg_lock:
                edited = dict(n.registry.get(KEY) or {})
                edited['a'] = 10
                edited['e'] = 5
                edited.pop('d', None)
                n.registry[KEY] = edited
            n.save_registry()
            s, ready = ours(n, rt42, workers)
            if not r.check(f'{name}/ours-after-edit-ready', ready, s.stderr_text()[-400:]):
                continue
            want = dict(want, a=10, e=5, f=6)
            want.pop('d')
            r.equal(f'{name}/after-registry-edit', variables(n, SVC), want)
            r.equal(f'{name}/ours-clean-stop-3', s.stop(), 0)
            if workers >= 2:
                r.equal(f'{name}/registry-whole-at-stop', n.registry.get(KEY), want)
r.exit()
