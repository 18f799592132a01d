"""Test support: ``python gated_train.py GATE ARGS...`` imports the slow modules (torch,
mmengine, spconv: 10-30 s on a loaded machine), waits until the file ``GATE`` exists, then
runs ``tools/train.py ARGS...`` as ``__main__``. Lets a test start the process that resumes
a killed run while the killed run is still importing."""
import os
import os.path as osp
import runpy
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

if __name__ == '__main__':
    gate, args = sys.argv[1], sys.argv[2:]
    import mmengine.runner  # noqa: F401

    import perception_kd  # noqa: F401
    deadline = time.monotonic() + 600
    while not osp.exists(gate):
        if time.monotonic() > deadline:
            sys.exit(f'gated_train.py: {gate} did not appear within 600 s')
        time.sleep(0.02)
    os.remove(gate)
    train = osp.join(REPO, 'tools', 'train.py')
    sys.argv = [train] + args
    runpy.run_path(train, run_name='__main__')
