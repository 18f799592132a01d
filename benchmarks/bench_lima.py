#!/usr/bin/env python
"""LiMA pretraining cost per variant and the downstream model's cost, side by side.

    python benchmarks/bench_lima.py [--iters 6] [--threads 2] [--data-root data/nuscenes/]

Pretraining (configs/lima_pretrain_cpu.py): the single-frame base, + cross-view, + memory
k = 1, 3, 6, and full LiMA, each in its own subprocess (so that peak memory, the process's
max RSS, is its own) on the same keyframes: two scene streams walked in time order as the
SceneSequentialSampler feeds them (batch 2), 2 warm-up steps then ``--iters`` timed training
steps (forward, backward, AdamW). Printed: samples/s, the ratio to the base, peak RSS, the
memory bank's size after the run. Data loading is excluded (batches are prepared first).

Downstream (configs/lima_lidarseg_finetune_cpu.py): the segmentor from scratch and the
segmentor initialised from a pretrained backbone: parameter counts and median step times,
alternating steps on one batch. The image encoder gets random weights when no teacher run
exists (its cost does not depend on its weights).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

VARIANTS = {
    'base': dict(cross_view=False, frames=0, xseq=False),
    'cv': dict(cross_view=True, frames=0, xseq=False),
    'mem1': dict(cross_view=True, frames=1, xseq=False),
    'mem3': dict(cross_view=True, frames=3, xseq=False),
    'mem6': dict(cross_view=True, frames=6, xseq=False),
    'full': dict(cross_view=True, frames=6, xseq=True),
}


def _setup(threads: int):
    import torch
    torch.set_num_threads(threads)
    from mmengine.registry import init_default_scope

    import perception_kd
    perception_kd.register_all_modules()
    init_default_scope('perception_kd')


def _stream_batches(cfg, data_root: str, steps: int):
    """``steps`` batches of 2: two scenes walked in time order (as the sampler does)."""
    from mmengine.dataset import pseudo_collate

    from perception_kd.datasets.samplers import scene_sequences
    from perception_kd.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.data_root = data_root
    dataset = DATASETS.build(ds_cfg)
    scenes = scene_sequences(dataset)[:2]
    return [pseudo_collate([dataset[scenes[0][t]], dataset[scenes[1][t]]])
            for t in range(steps)]


def run_variant(name: str, args) -> dict:
    """One pretraining variant (in this process)."""
    _setup(args.threads)
    import torch
    from mmengine.config import Config

    from perception_kd.registry import MODELS
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/lima_pretrain_cpu.py'))
    from perception_kd.utils.checkpoint import latest_checkpoint
    teacher = os.path.join(ROOT, cfg.model.image_encoder.checkpoint)
    if os.path.isdir(teacher) and latest_checkpoint(teacher):
        cfg.model.image_encoder.checkpoint = teacher
    elif not os.path.isfile(teacher):
        cfg.model.image_encoder.checkpoint = None
    opts = VARIANTS[name]
    cfg.model.cross_view.enabled = opts['cross_view']
    cfg.model.memory.num_frames = opts['frames']
    cfg.model.cross_sequence.enabled = opts['xseq']
    batches = _stream_batches(cfg, args.data_root, args.iters + 2)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    times = []
    for step, batch in enumerate(batches):
        start = time.perf_counter()
        data = model.data_preprocessor(batch, training=True)
        losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if k.startswith('loss_'))
        optim.zero_grad()
        loss.backward()
        optim.step()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return dict(variant=name, samples_per_s=2 * len(times) / sum(times),
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                memory_bank_mb=model.memory.nbytes() / 2 ** 20,
                memory_bank_bound_mb=model.memory.bound_bytes(
                    model.image_encoder.out_channels, streams=2) / 2 ** 20,
                teacher='trained' if cfg.model.image_encoder.checkpoint else 'random')


def downstream(args) -> dict:
    """Segmentor from scratch vs from a pretrained backbone: parameters and step time."""
    _setup(args.threads)
    import torch
    from mmengine.config import Config

    from perception_kd.registry import MODELS
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/lima_lidarseg_finetune_cpu.py'))
    cfg.train_dataloader.dataset.scan_fraction = 1.0
    seg_cfg = copy.deepcopy(cfg.model)
    seg_cfg.init_backbone.checkpoint = None
    pre_cfg = Config.fromfile(os.path.join(ROOT, 'configs/lima_pretrain_cpu.py'))
    pre_cfg.model.image_encoder.checkpoint = None
    torch.manual_seed(0)
    pretrainer = MODELS.build(pre_cfg.model)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'pretrained.pth')
        torch.save(dict(state_dict=pretrainer.state_dict()), path)
        init_cfg = copy.deepcopy(cfg.model)
        init_cfg.init_backbone.checkpoint = path
        models = dict(scratch=MODELS.build(seg_cfg), pretrained=MODELS.build(init_cfg))
    from mmengine.dataset import pseudo_collate

    from perception_kd.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.data_root = args.data_root
    dataset = DATASETS.build(ds_cfg)
    batch = pseudo_collate([dataset[0], dataset[1]])
    optims = {k: torch.optim.AdamW(m.parameters(), lr=1e-3) for k, m in models.items()}
    times = {k: [] for k in models}
    for step in range(args.iters + 2):
        for key, model in models.items():
            model.train()
            start = time.perf_counter()
            data = model.data_preprocessor(batch, training=True)
            loss = sum(v for k, v in model(**data, mode='loss').items() if k.startswith('loss'))
            optims[key].zero_grad()
            loss.backward()
            optims[key].step()
            if step >= 2:
                times[key].append(time.perf_counter() - start)
    import statistics
    return {key: dict(params=sum(p.numel() for p in model.parameters()),
                      step_s=statistics.median(times[key])) for key, model in models.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=6)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--data-root', default='data/nuscenes/')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--one', help=argparse.SUPPRESS)          # internal: one variant
    parser.add_argument('--downstream', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_variant(args.one, args)))
        return
    if args.downstream:
        print(json.dumps(downstream(args)))
        return
    rows = []
    for name in args.variants:
        out = subprocess.run([sys.executable, __file__, '--one', name, '--iters', str(args.iters),
                              '--threads', str(args.threads), '--data-root', args.data_root],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = next((r for r in rows if r['variant'] == 'base'), rows[0])
    print(f'LiMA pretraining, batch 2, {args.threads} threads, {args.iters} timed steps '
          f'(teacher weights: {rows[0]["teacher"]})')
    print('| variant | samples/s | vs base | peak RSS (MB) | memory bank (MB) | bound (MB) |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["variant"]} | {r["samples_per_s"]:.2f} | '
              f'{r["samples_per_s"] / base["samples_per_s"]:.2f} | {r["peak_rss_mb"]:.0f} | '
              f'{r["memory_bank_mb"]:.2f} | {r["memory_bank_bound_mb"]:.1f} |')
    out = subprocess.run([sys.executable, __file__, '--downstream', '--iters', str(args.iters),
                          '--threads', str(args.threads), '--data-root', args.data_root],
                         capture_output=True, text=True, check=True)
    down = json.loads(out.stdout.strip().splitlines()[-1])
    print('\nDownstream segmentor (configs/lima_lidarseg_finetune_cpu.py), batch 2')
    print('| init | parameters | median step (s) |')
    print('|---|---|---|')
    for key, r in down.items():
        print(f'| {key} | {r["params"]} | {r["step_s"]:.3f} |')
    ratio = down['pretrained']['step_s'] / down['scratch']['step_s']
    print(f'step time pretrained / scratch: {ratio:.2f}')


if __name__ == '__main__':
    main()
