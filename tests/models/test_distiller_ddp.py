"""The distillation losses under DDP (2 CPU ranks, gloo, mmengine's wrapper): dividing by
the ranks' mean box count makes DDP's averaged gradient equal the one-process gradient
of the whole batch, also when the ranks hold different numbers of boxes."""
import copy
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from perception_kd.models.distill import model_cfg_from
from perception_kd.registry import MODELS

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LIDAR2CAM = os.path.join(REPO, 'configs', 'unidistill_lidar2cam_cpu.py')

sys.path.insert(0, HERE)  # tiny_data (importlib mode)
from tiny_data import tiny_dataset  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason='torch.distributed with gloo is not available')


def build(cfg_model):
    with DefaultScope.overwrite_default_scope('perception_kd'):
        return MODELS.build(copy.deepcopy(cfg_model))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_ranks(setup_path, tmp_path, tag, *flags):
    port = str(free_port())
    procs, outs = [], []
    for rank in (0, 1):
        out = tmp_path / f'{tag}_rank{rank}.pth'
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                   MASTER_ADDR='127.0.0.1', MASTER_PORT=port, OMP_NUM_THREADS='1',
                   PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]),
                   PYTHONWARNINGS='ignore')
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'distiller_ddp_worker.py'), str(setup_path),
             str(out), *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True))
        outs.append(out)
    for proc in procs:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-3000:]
    return [torch.load(o, weights_only=False) for o in outs]


@pytest.fixture(scope='module')
def setup(tiny_root, tiny_infos, tmp_path_factory):
    cfg = Config.fromfile(LIDAR2CAM)
    tmp = tmp_path_factory.mktemp('ddp')
    torch.manual_seed(0)
    teacher = build(model_cfg_from(cfg.model.teacher, 'teacher'))
    teacher_ckpt = tmp / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict(), meta={}), teacher_ckpt)

    dataset = tiny_dataset(cfg.train_dataloader.dataset, tiny_root)
    np.random.seed(0)
    samples = [dataset[0], dataset[1]]
    # rank 0 keeps 8 of its boxes: the ranks' box counts far apart, as in a real batch
    samples[0]['data_samples'].gt_instances_3d = samples[0]['data_samples'].gt_instances_3d[:8]
    counts = [len(s['data_samples'].gt_instances_3d) for s in samples]
    assert counts[0] == 8 and counts[1] > 20, counts
    batch = pseudo_collate(samples)

    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_ckpt = str(teacher_ckpt)
    torch.manual_seed(1)
    model = build(model_cfg)
    path = tmp / 'setup.pth'
    torch.save(dict(config=LIDAR2CAM, teacher_ckpt=str(teacher_ckpt), samples=samples,
                    student=model.student.state_dict()), path)

    # one process, the whole batch
    torch.set_num_threads(1)
    model.eval()
    data = model.data_preprocessor(batch, True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    distill = {k: v for k, v in losses.items() if k.startswith('loss_distill')}
    sum(distill.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.student.named_parameters()
             if p.grad is not None}
    return dict(path=path, tmp=tmp, grads=grads, counts=counts)


def max_rel_error(grads, reference):
    assert grads.keys() == reference.keys()
    num = max((grads[k] - reference[k]).abs().max().item() for k in reference)
    den = max(reference[k].abs().max().item() for k in reference)
    return num / den


def test_ddp_gradient_equals_the_whole_batch_gradient(setup):
    ranks = run_ranks(setup['path'], setup['tmp'], 'mean')
    for key, value in ranks[0]['grads'].items():  # DDP all-reduced: identical on both ranks
        assert torch.equal(value, ranks[1]['grads'][key]), key
    assert max_rel_error(ranks[0]['grads'], setup['grads']) < 1e-4

    # the control: each rank normalising by its own box count gives another gradient
    local = run_ranks(setup['path'], setup['tmp'], 'local', '--local-norm')
    assert max_rel_error(local[0]['grads'], setup['grads']) > 0.05, setup['counts']
