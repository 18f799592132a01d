"""tools/train.py on the toy task: atomic checkpoints, resume that skips a truncated
checkpoint, a copied work dir that resumes its own checkpoints, and exact resume with
random augmentation and dropout."""
import errno
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.fileio.backends import LocalBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import load_tool, logged_train_scalars, write_toy_config  # noqa: E402

from perception_kd.utils.checkpoint import CheckpointWarning, latest_checkpoint  # noqa: E402

train = load_tool('train')

RANDOM = ['+train_dataloader.dataset.augment_std=0.3', '+model.dropout=0.2']


def _losses(runner):
    return [(r['epoch'], r['step'], r['loss']) for r in logged_train_scalars(runner.log_dir)]


def _leftovers(work_dir):
    return [name for name in os.listdir(work_dir) if name.endswith('.tmp')]


@pytest.mark.parametrize('workers', [0, 2])
def test_resume_reproduces_the_uninterrupted_loss_curve(tmp_path, workers):
    """Random augmentation (numpy, in the workers) and dropout (torch, main process):
    1 epoch + resume + 1 epoch logs the same per-iteration losses as 2 epochs straight."""
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=2)
    loader = [f'train_dataloader.num_workers={workers}'] + \
        (['+train_dataloader.persistent_workers=True'] if workers else [])
    options = ['--cfg-options'] + RANDOM + loader
    straight = train.main([cfg, '--work-dir', str(tmp_path / 'straight')] + options)
    run = str(tmp_path / 'run')
    first = train.main([cfg, '--work-dir', run] + options + ['train_cfg.max_epochs=1'])
    time.sleep(1.1)   # the Runner names its log dir by the second
    resumed = train.main([cfg, '--work-dir', run, '--resume'] + options)
    theirs = _losses(straight)
    ours = _losses(first) + _losses(resumed)
    assert [o[:2] for o in ours] == [t[:2] for t in theirs] and len(ours) == 8
    assert [o[2] for o in ours] == [t[2] for t in theirs]       # exactly
    # the augmentation is random indeed: another epoch draws other noise
    assert ours[0][2] != ours[4][2]


def test_full_disk_during_save_leaves_no_truncated_checkpoint(tmp_path, monkeypatch):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=3)
    work_dir = tmp_path / 'run'
    put = LocalBackend.put
    calls = []

    def full_disk_put(self, obj, filepath):
        calls.append(str(filepath))
        if len(calls) == 2:                      # the second checkpoint: half, then ENOSPC
            with open(filepath, 'wb') as file:
                file.write(obj[:len(obj) // 2])
            raise OSError(errno.ENOSPC, 'No space left on device')
        put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', full_disk_put)
    with pytest.raises(SystemExit) as exc:
        train.main([cfg, '--work-dir', str(work_dir)])
    assert exc.value.code == 2
    message = str(exc.value)
    assert f'could not write checkpoint {work_dir / "epoch_2.pth"} (No space left' in message
    assert f'last complete checkpoint is {work_dir / "epoch_1.pth"}' in message
    assert not (work_dir / 'epoch_2.pth').exists() and not _leftovers(work_dir)
    assert (work_dir / 'last_checkpoint').read_text() == 'epoch_1.pth'
    torch.load(work_dir / 'epoch_1.pth', weights_only=True)        # whole

    monkeypatch.setattr(LocalBackend, 'put', put)                  # disk freed: resume
    time.sleep(1.1)
    resumed = train.main([cfg, '--work-dir', str(work_dir), '--resume'])
    assert [r[1] for r in _losses(resumed)] == list(range(5, 13))
    assert (work_dir / 'last_checkpoint').read_text() == 'epoch_3.pth'


def test_resume_skips_a_truncated_checkpoint(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=2)
    work_dir = tmp_path / 'run'
    train.main([cfg, '--work-dir', str(work_dir)])
    last = work_dir / 'epoch_2.pth'
    data = last.read_bytes()
    last.write_bytes(data[:len(data) // 2])           # e.g. a crash of an older writer

    args = train.parse_args([cfg, '--work-dir', str(work_dir), '--resume'])
    with pytest.warns(CheckpointWarning, match=rf'skipping checkpoint {last}: truncated'):
        cfg_resumed = train.build_config(args)
    assert cfg_resumed.load_from == str(work_dir / 'epoch_1.pth') and cfg_resumed.resume
    time.sleep(1.1)
    with pytest.warns(CheckpointWarning, match='epoch_2.pth'):
        resumed = train.main([cfg, '--work-dir', str(work_dir), '--resume'])
    assert [r[1] for r in _losses(resumed)] == [5, 6, 7, 8]            # epoch 2 again
    torch.load(last, weights_only=True)                                 # rewritten whole

    last.write_bytes(data[:100])
    with pytest.raises(SystemExit, match=rf'--resume: checkpoint {last} is truncated'):
        train.main([cfg, '--work-dir', str(work_dir), '--resume', str(last)])


def test_copied_work_dir_resumes_its_own_checkpoint(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=1)
    original = tmp_path / 'original'
    train.main([cfg, '--work-dir', str(original)])
    assert (original / 'last_checkpoint').read_text() == 'epoch_1.pth'    # relative
    copy = tmp_path / 'copy'
    shutil.copytree(original, copy)
    args = train.parse_args([cfg, '--work-dir', str(copy), '--resume'])
    assert train.build_config(args).load_from == str(copy / 'epoch_1.pth')

    # a marker written by mmengine's own hook holds the original's absolute path
    (copy / 'last_checkpoint').write_text(str(original / 'epoch_1.pth'))
    with pytest.warns(CheckpointWarning, match=rf'names {original / "epoch_1.pth"}, outside '
                                               rf'this work dir {copy}'):
        assert train.build_config(args).load_from == str(copy / 'epoch_1.pth')
    shutil.rmtree(original)                         # the copy does not need the original
    time.sleep(1.1)
    with pytest.warns(CheckpointWarning):
        resumed = train.main([cfg, '--work-dir', str(copy), '--resume',
                              '--cfg-options', 'train_cfg.max_epochs=2'])
    assert [r[1] for r in _losses(resumed)] == [5, 6, 7, 8]
    assert (copy / 'last_checkpoint').read_text() == 'epoch_2.pth'


def test_marker_outside_the_work_dir_without_local_copy(tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    torch.save({}, elsewhere / 'epoch_5.pth')
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(str(elsewhere / 'epoch_5.pth'))
    with pytest.warns(CheckpointWarning, match='looking for the newest checkpoint of this'):
        assert latest_checkpoint(str(work_dir)) is None
    torch.save({}, work_dir / 'epoch_2.pth')
    with pytest.warns(CheckpointWarning):
        assert latest_checkpoint(str(work_dir)) == str(work_dir / 'epoch_2.pth')
