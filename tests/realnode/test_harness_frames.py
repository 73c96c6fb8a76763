"""`abi-harness run` shows the frames the launcher itself publishes, as a node
does (issue 16 §4; abi-and-launcher.md, step 5 and 6): SVC/ST ready, then the
LOG/IN/info line "<description> started (<id>)", and SVC/ST terminating at the
stop. The C reference service runs under the real FFI launcher (4.1 and the
4.2 runtime rule) and under the harness with the same id; the launcher's
frames must match, text for text and in order."""
import json
import os
import subprocess
import sys
import tempfile

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node import Node, Results, needs_real, ffi_launcher  # noqa: E402

needs_real('harness-frames', 'bin/eva-ffi', 'bin/eva-ffi-42rt')
r = Results()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('BUILD') or os.path.join(ROOT, 'build')
lib = os.path.join(BUILD, 'reference', 'libeva-reference.so')
harness = os.path.join(BUILD, 'abi-harness')
for path in (lib, harness):
    if not os.path.exists(path):
        r.check('harness-frames/built', False, f'{path} is not built (make harness reference)')
        r.exit()

SVC = 'eva.svc.frames'
CONFIG = {'items': ['sensor:tests/temp']}


def launcher_frames(frames):
    """(topic, text) of what the launcher publishes for the service: SVC/ST
    and its "... started (<id>)" line (the library's own logs left out)."""
    out = []
    for topic, payload in frames:
        if topic == 'SVC/ST':
            out.append((topic, json.dumps(payload, sort_keys=True)))
        elif topic == 'LOG/IN/info' and payload.endswith(f' started ({SVC})'):
            out.append((topic, payload))
    return out


def real_run(rt42):
    with Node() as n:
        s = n.start_service(SVC, [ffi_launcher(rt42), lib], config=CONFIG)
        if not s.wait_ready(10):
            s.kill()
            return None, s.stderr_text()[-300:]
        n.call_when_ready(SVC, 'list')
        rc = s.stop()
        frames = []
        for _, topic, payload in s.frames():
            if topic == 'SVC/ST':
                frames.append((topic, msgpack.unpackb(payload, raw=False)))
            elif topic.startswith('LOG/IN/'):
                frames.append((topic, payload.decode(errors='replace')))
        return frames, f'exit {rc}'


def harness_run():
    with tempfile.TemporaryDirectory(prefix='harness-frames-') as d:
        template = os.path.join(d, 'svc.yml')
        with open(template, 'w') as f:
            f.write('config:\n  items: [sensor:tests/temp]\nworkers: 1\n')
        p = subprocess.run([harness, 'run', lib, '--config', template, '--id', SVC, '--call', 'list'],
                           capture_output=True, text=True, timeout=60)
    frames = []
    for line in p.stdout.splitlines():
        o = json.loads(line)
        if 'frame' not in o:
            continue
        if o['frame'] == 'SVC/ST':
            frames.append((o['frame'], o.get('payload')))
        elif o['frame'].startswith('LOG/IN/'):
            frames.append((o['frame'], o.get('text')))
    return frames, p.returncode


ours, rc = harness_run()
r.equal('harness-frames/harness-exit', rc, 0)
want_ours = [('SVC/ST', '{"status": "ready"}'),
             ('LOG/IN/info', f'C reference service: virtual items (list/get/set) started ({SVC})'),
             ('SVC/ST', '{"status": "terminating"}')]
r.equal('harness-frames/harness', launcher_frames(ours), want_ours)
for rt42 in (False, True):
    name = 'harness-frames/' + ('4.2rt' if rt42 else '4.1')
    theirs, why = real_run(rt42)
    if not r.check(f'{name}/ready', theirs is not None, why):
        continue
    r.equal(f'{name}/same-launcher-frames', launcher_frames(ours), launcher_frames(theirs))
r.exit()
