"""LiMA under 2-rank gloo DDP (tools/dist_train.sh, mmengine's MMDistributedDataParallel
with device_ids=None) on the tiny synthetic tree: two pretraining steps of
configs/lima_pretrain_cpu.py (SceneSequentialSampler: the ranks walk disjoint scenes) and
two downstream steps of configs/lima_lidarseg_finetune_cpu.py. Both ranks end with the same
parameters (DDP averaged every gradient; a parameter without a gradient in the first step
would fail the second)."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from perception_kd.datasets.io import load_info_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
CONFIGS = os.path.join(REPO, 'configs')

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason='torch.distributed with gloo is not available')


def short_run(cfg, out_dir, iters=2):
    """``cfg`` cut to ``iters`` iterations, one sample per rank, no validation, in-process
    data loading, plus the hook that saves each rank's state."""
    cfg.train_dataloader.batch_size = 1
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.param_scheduler = None
    cfg.log_processor = dict(by_epoch=False)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.custom_imports = dict(imports=['lima_ddp_hooks'], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='SaveRankStateHook', out_dir=str(out_dir))]
    return cfg


def run_ddp(cfg, tmp_path, tag, data_root):
    path = tmp_path / f'{tag}.py'
    cfg.dump(str(path))
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([HERE, REPO, os.environ.get('PYTHONPATH', '')]),
               PYTHONWARNINGS='ignore')
    env.pop('PORT', None)
    proc = subprocess.run(
        ['bash', os.path.join(REPO, 'tools', 'dist_train.sh'), str(path), '2',
         '--work-dir', str(tmp_path / f'{tag}_run'), '--data-root', data_root],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / tag / f'rank{r}.pth', weights_only=False) for r in (0, 1)]
    for saved in ranks:
        assert saved['world_size'] == 2 and saved['wrapper'] == 'MMDistributedDataParallel'
        assert saved['iters'] == 2
    params = [k for k in ranks[0]['state_dict']
              if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))]
    for key in params:    # BatchNorm statistics are per rank (DDP broadcasts rank 0's)
        assert torch.equal(ranks[0]['state_dict'][key], ranks[1]['state_dict'][key]), key
    return ranks


def test_pretraining_and_downstream_steps_under_ddp(tiny_root, tiny_infos, tmp_path):
    # both tiny scenes in one info file: one scene per rank
    infos = [load_info_file(tiny_infos[split]) for split in ('train', 'val')]
    both = dict(metainfo=infos[0]['metainfo'],
                data_list=infos[0]['data_list'] + infos[1]['data_list'])
    both_file = tmp_path / 'infos_both.pkl'
    with open(both_file, 'wb') as file:
        pickle.dump(both, file)

    cfg = Config.fromfile(os.path.join(CONFIGS, 'lima_pretrain_cpu.py'))
    cfg.model.image_encoder.checkpoint = None
    cfg.model.memory.num_frames = 2
    cfg = short_run(cfg, tmp_path / 'pretrain')
    cfg.train_dataloader.sampler.batch_size = 1
    cfg.train_dataloader.dataset.ann_file = str(both_file)
    for step in cfg.train_dataloader.dataset.pipeline:       # the tiny tree's 320x180 images
        if step['type'] == 'ImageAug3D':
            step.update(final_size=(64, 112), resize_lim=[0.35, 0.35])
    ranks = run_ddp(cfg, tmp_path, 'pretrain', tiny_root)
    scenes = [{s for batch in saved['scenes'] for s in batch} for saved in ranks]
    assert all(len(s) == 1 for s in scenes) and scenes[0] != scenes[1]   # disjoint scenes
    assert any(k.startswith('backbone_3d.') for k in ranks[0]['state_dict'])

    cfg = Config.fromfile(os.path.join(CONFIGS, 'lima_lidarseg_finetune_cpu.py'))
    cfg.model.init_backbone.checkpoint = None
    cfg = short_run(cfg, tmp_path / 'finetune')
    cfg.train_dataloader.dataset.update(ann_file=tiny_infos['train'], scan_fraction=1.0)
    ranks = run_ddp(cfg, tmp_path, 'finetune', tiny_root)
    assert any(k.startswith('backbone.') for k in ranks[0]['state_dict'])
