"""Issue 14: a training killed with a real SIGKILL right after its first checkpoint, then
resumed with ``--resume``, logs the same second epoch as an uninterrupted run, loss for
loss, bit for bit (random augmentation in the data and dropout in the model included).

The killed and the resumed runs are ``tools/train.py`` processes on the toy task; the
uninterrupted run trains in-process meanwhile. A process start costs 10-30 s of imports
(mostly spconv) on a loaded machine, so the resuming process is started at once too and
waits, imports done, for a gate file written after the kill (``gated_train.py``, test
support). The killed run pauses after
the 2nd iteration of epoch 2 (``ToyPauseHook``, test support; only when ``TOY_PAUSE_AT``
is set) so that the kill always lands before epoch 2 ends, however fast the machine.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, TOOLS_TEST_DIR, load_tool, write_toy_config  # noqa: E402

RANDOM = ['+train_dataloader.dataset.augment_std=0.3', '+model.dropout=0.2']


def _train(cfg, work_dir, *extra, env_extra=None, gate=None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ('TOY_PAUSE_AT', 'PKD_TRACEBACK')}
    env.update(OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([str(TOOLS_TEST_DIR), str(REPO),
                                           os.environ.get('PYTHONPATH', '')]),
               **(env_extra or {}))
    start = [str(TOOLS_TEST_DIR / 'gated_train.py'), str(gate)] if gate else \
        [str(REPO / 'tools' / 'train.py')]
    return subprocess.Popen([sys.executable, *start, cfg, '--work-dir', str(work_dir), *extra,
                             '--cfg-options', *RANDOM],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _records(work_dir: Path) -> list:
    """(epoch, step, loss, loss_mse, loss_l1) of every logged training iteration of every
    run in ``work_dir``, runs in start order."""
    records = []
    for log_dir in sorted(p.parent.parent for p in work_dir.glob('*/vis_data/scalars.json')):
        for line in (log_dir / 'vis_data' / 'scalars.json').read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record:
                records.append((record['epoch'], record['step'], record['loss'],
                                record['loss_mse'], record['loss_l1']))
    return records


def test_sigkill_after_first_checkpoint_then_resume_matches_uninterrupted(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=2,
                           custom_hooks=[dict(type='ToyPauseHook', seconds=120)])
    straight_dir, run_dir = tmp_path / 'straight', tmp_path / 'run'
    gate = tmp_path / 'resume_now'
    victim = _train(cfg, run_dir, env_extra=dict(TOY_PAUSE_AT='2:2'))
    resumed = _train(cfg, run_dir, '--resume', gate=gate)  # imports meanwhile, then waits
    load_tool('train').main([cfg, '--work-dir', str(straight_dir),   # the reference
                             '--cfg-options', *RANDOM])
    deadline = time.monotonic() + 120
    while not (run_dir / 'epoch_1.pth').exists():
        assert victim.poll() is None, victim.stdout.read()[-3000:]
        assert time.monotonic() < deadline, 'no first checkpoint within 120 s'
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)                      # a real kill -9, mid-run
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    # nothing half-written under a final name: epoch_1.pth is whole, last_checkpoint (if
    # the kill came after it) names it; a kill while last_checkpoint was being replaced may
    # leave its temporary file, which nothing reads (a checkpoint's own .tmp cannot be
    # left: epoch_1.pth exists only after its rename)
    assert not (run_dir / 'epoch_2.pth').exists()
    torch.load(run_dir / 'epoch_1.pth', weights_only=False)
    marker = run_dir / 'last_checkpoint'
    assert not marker.exists() or marker.read_text() == 'epoch_1.pth'
    assert all(p.name.startswith('last_checkpoint.') for p in run_dir.glob('*.tmp'))

    time.sleep(1.1)          # the Runner names its log dir by the second
    gate.write_text('')
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out[-3000:]

    theirs = [r for r in _records(straight_dir) if r[0] == 2]
    ours = [r for r in _records(run_dir) if r[0] == 2]
    # the killed run may have logged up to 2 iterations of epoch 2 before the kill; the
    # resumed run repeats epoch 2 from its start: its 4 records are the last ones
    assert [r[1] for r in theirs] == [5, 6, 7, 8] and [r[1] for r in ours[-4:]] == [5, 6, 7, 8]
    assert ours[-4:] == theirs, (ours, theirs)              # exactly, every loss term
    assert (run_dir / 'last_checkpoint').read_text() == 'epoch_2.pth'
