"""mmengine Runner checkpoints load and resume under torch's weights_only default."""
import itertools
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import perception_kd
from perception_kd.utils import mmengine_safe_globals

perception_kd.register_all_modules()

_RUN_IDS = itertools.count()


class ToyDataset(Dataset):
    """8 fixed samples of a noisy linear map."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        x = torch.randn(4, generator=gen)
        return dict(x=x, y=x.sum(0, keepdim=True) * 0.5 + 0.1 * torch.randn(1, generator=gen))


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x, y, mode='tensor'):
        out = self.fc(x)
        if mode == 'loss':
            return dict(loss=((out - y) ** 2).mean())
        return out


class RecordStart(Hook):
    """Records epoch, iteration and weights when training starts (after resuming)."""

    def __init__(self):
        self.record = None

    def before_train(self, runner):
        self.record = dict(epoch=runner.epoch, iter=runner.iter,
                           state={k: v.clone() for k, v in runner.model.state_dict().items()})


def make_runner(work_dir, max_epochs, name, resume=False, hooks=()):
    torch.manual_seed(0)
    # mmengine keys its logger/visualizer/message-hub singletons by experiment name and
    # second: make the names unique so runners of different tests never share them
    name = f'{name}_{work_dir.name}_{next(_RUN_IDS)}'
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), experiment_name=name,
        train_dataloader=dict(dataset=ToyDataset(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], gamma=0.5, by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(hooks), resume=resume, randomness=dict(seed=0))


def test_runner_checkpoint_has_only_allowlisted_globals(tmp_path):
    make_runner(tmp_path, 2, 'first').train()
    ckpt = tmp_path / 'epoch_2.pth'
    user_allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:  # what the checkpoint needs beyond torch's own allowlist
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(ckpt))
    finally:
        torch.serialization.add_safe_globals(user_allowed)
    assert names, 'expected mmengine checkpoints to need non-default globals'
    allowed = set()
    for entry in mmengine_safe_globals():
        if isinstance(entry, tuple):
            allowed.add(entry[1])
        else:
            allowed.add(f'{entry.__module__}.{entry.__qualname__}')
    assert set(names) <= allowed, f'not allowlisted: {set(names) - allowed}'
    checkpoint = torch.load(str(ckpt), map_location='cpu')  # weights_only default
    assert checkpoint['meta']['epoch'] == 2
    assert checkpoint['message_hub']['log_scalars']['train/loss'].current() > 0


def test_resume_continues_epoch_iter_and_weights(tmp_path):
    make_runner(tmp_path, 2, 'first').train()
    saved = torch.load(str(tmp_path / 'epoch_2.pth'), map_location='cpu')['state_dict']

    record = RecordStart()
    runner = make_runner(tmp_path, 3, 'resumed', resume=True, hooks=[record])
    runner.train()
    assert record.record is not None
    assert record.record['epoch'] == 2
    assert record.record['iter'] == 4  # 2 epochs x 2 iterations
    for key, value in saved.items():
        torch.testing.assert_close(record.record['state'][key], value, rtol=0, atol=0)
    assert runner.epoch == 3 and runner.iter == 6

    # resuming gives the same result as training straight through
    straight = make_runner(tmp_path / 'straight', 3, 'straight')
    straight.train()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)


class NotAllowlisted:
    pass


def test_other_classes_still_refused(tmp_path):
    path = tmp_path / 'bad.pth'
    torch.save({'state_dict': {}, 'extra': NotAllowlisted()}, str(path))
    with pytest.raises(pickle.UnpicklingError, match='NotAllowlisted'):
        torch.load(str(path))
    assert isinstance(torch.load(str(path), weights_only=False)['extra'], NotAllowlisted)


class GetattrGadget:
    """Pickles as ``getattr(np.ndarray, 'tofile')``: must not pass as a HistoryBuffer method."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_getattr_only_for_history_buffer(tmp_path):
    path = tmp_path / 'gadget.pth'
    torch.save({'x': GetattrGadget()}, str(path))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(path))
