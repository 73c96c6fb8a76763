"""The fixture's own stand-ins, checked against the real broker and the
shipped controller: what the other real-node tests stand on."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node import Node, Results, needs_real, shipped_controller, pack  # noqa: E402

needs_real('realnode-fixture', 'bin/eva-controller-virtual')
r = Results()
import tempfile  # noqa: E402
import shutil  # noqa: E402
eva_dir = tempfile.mkdtemp(prefix='realnode-fx-')
with Node(eva_dir=eva_dir) as n:
    r.equal('fixture/registry-missing-key', n.call('eva.registry', 'key_get', {'key': 'nope'})[0], -32001)
    r.equal('fixture/core-test-active', n.call('eva.core', 'test')[1]['active'], True)
    s = n.start_service('eva.controller.fx', [shipped_controller()], config={'auto_create': True})
    r.check('fixture/shipped-ready', s.wait_ready(10), s.stderr_text())
    r.equal('fixture/shipped-var-set', n.call_when_ready(s.id, 'var.set', {'i': 'x', 'value': 5}), (0, None))
    r.equal('fixture/shipped-set', n.call(s.id, 'set', {'i': 'sensor:t/a', 'status': 1, 'value': 2}), (0, None))
    got = n.wait_frame(lambda snd, t, p: t == 'RAW/sensor/t/a', 5, since=s.mark)
    r.check('fixture/recorder-raw', got is not None and got[0] == s.id, repr(got))
    time.sleep(0.1)
    r.equal('fixture/core-holds-state', n.items.get('sensor:t/a'), {'status': 1, 'value': 2})
    # the shipped controller writes its variables to the registry at its stop
    r.equal('fixture/shipped-clean-stop', s.stop(), 0)
    r.equal('fixture/shipped-registry-at-stop', n.registry.get('eva/svc_data/eva.controller.fx/vars'), {'x': 5})
    keep = dict(n.registry)
# a new node on the same folder has the same registry (a restart of the node)
with Node(eva_dir=eva_dir) as n2:
    r.equal('fixture/registry-survives', n2.registry, keep)
shutil.rmtree(eva_dir, ignore_errors=True)
r.exit()
