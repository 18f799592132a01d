"""tools/install_mmdet3d.sh without building anything: the wheel cache key and reuse,
and its errors. (The build itself takes minutes to hours; docs/getting_started.md.)"""
import os
import platform
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'tools', 'install_mmdet3d.sh')


def run(*args, cache):
    env = dict(os.environ, PKD_WHEEL_CACHE=str(cache))
    return subprocess.run(['bash', SCRIPT, *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_wheel_only_reuses_the_cached_wheel(tmp_path):
    key = (f'py{sys.version_info[0]}{sys.version_info[1]}-'
           f'torch{torch.__version__.replace("+", "_")}-{platform.machine()}')
    wheel = tmp_path / key / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'
    wheel.parent.mkdir()
    wheel.write_bytes(b'')
    done = run(sys.executable, '--wheel-only', cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f'using the cached mmcv wheel {wheel}' in done.stdout
    assert sorted(os.listdir(wheel.parent)) == [wheel.name]   # no build, no log


def test_errors_are_one_clear_line(tmp_path):
    done = run('/bin/false', cache=tmp_path)
    assert done.returncode == 1
    assert "cannot import torch; run 'make venv' first" in done.stderr
    assert not os.listdir(tmp_path)
