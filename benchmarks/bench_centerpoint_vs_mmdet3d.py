"""The project's CPU CenterPoint and mmdet3d's CenterPoint at the same grid and input,
training step time side by side in one process (needs ``make mmdet3d``).

Models: ``configs/centerpoint_lidar_cpu.py`` (ours) and ``configs/mmdet3d_centerpoint_cpu.py``
(mmdet3d's classes through ``MMDet3DDetector``): +-51.2 m, voxel 0.1 m, 3 LiDAR frames,
BEV 128 x 128, the same widths and task groups. Input: the first batches of the config's
training pipeline on the demo world (``data/nuscenes``; ``--data-root``). Per step and
side: the model's data preprocessor (voxelization: ours by spconv / torch, mmdet3d's by
mmcv), then loss + backward. Sides interleave per repeat (load hits both alike); the
medians per sample are printed with their ratio.

    python benchmarks/bench_centerpoint_vs_mmdet3d.py                 # 1 thread, 7 repeats
    python benchmarks/bench_centerpoint_vs_mmdet3d.py --threads 2 --json out.json
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import perception_kd  # noqa: E402

SIDES = {'ours': 'configs/centerpoint_lidar_cpu.py',
         'mmdet3d': 'configs/mmdet3d_centerpoint_cpu.py'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default=os.path.join(ROOT, 'data', 'nuscenes'))
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--batches', type=int, default=3, help='distinct batches cycled')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--json', default=None)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from perception_kd.registry import DATASETS, MODELS
    from perception_kd.utils.mmdet3d_compat import mmdet3d_missing
    problem = mmdet3d_missing()
    if problem:
        sys.exit(f'bench_centerpoint_vs_mmdet3d.py: error: {problem}')
    torch.set_num_threads(args.threads)
    perception_kd.register_all_modules()
    cfgs = {side: Config.fromfile(os.path.join(ROOT, path)) for side, path in SIDES.items()}
    with DefaultScope.overwrite_default_scope('perception_kd'):
        dataset_cfg = copy.deepcopy(cfgs['ours'].train_dataloader.dataset)
        dataset_cfg.data_root = args.data_root
        dataset = DATASETS.build(dataset_cfg)
        torch.manual_seed(0)
        models = {side: MODELS.build(copy.deepcopy(cfg.model)).train()
                  for side, cfg in cfgs.items()}
    size = args.batch_size
    batches = [pseudo_collate([dataset[i * size + j] for j in range(size)])
               for i in range(args.batches)]
    params = {side: sum(p.numel() for p in m.parameters()) for side, m in models.items()}
    times = {side: {'preprocess': [], 'step': []} for side in models}

    def step(side, batch):
        model = models[side]
        start = time.perf_counter()
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        mid = time.perf_counter()
        losses = model(data['inputs'], data['data_samples'], mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        model.zero_grad(set_to_none=True)
        end = time.perf_counter()
        return mid - start, end - mid

    for side in models:   # warm-up: first-call allocations, spconv algorithm choice
        step(side, batches[0])
    for r in range(args.repeats):
        for side in models:
            pre, fb = step(side, batches[r % len(batches)])
            times[side]['preprocess'].append(pre / size)
            times[side]['step'].append(fb / size)
    out = dict(threads=args.threads, batch_size=size, repeats=args.repeats,
               machine=platform.machine(), torch=torch.__version__, params=params,
               median_s_per_sample={side: {k: statistics.median(v) for k, v in t.items()}
                                    for side, t in times.items()})
    med = out['median_s_per_sample']
    print(f'{args.threads} thread(s), batch {size}, {args.repeats} repeats, medians per sample')
    print(f'{"side":<9} {"params":>9} {"voxelize s":>11} {"fwd+bwd s":>10}')
    for side in models:
        print(f'{side:<9} {params[side]:>9,} {med[side]["preprocess"]:>11.4f} '
              f'{med[side]["step"]:>10.3f}')
    for key in ('preprocess', 'step'):
        ratio = med['mmdet3d'][key] / med['ours'][key]
        out[f'{key}_ratio_mmdet3d_over_ours'] = ratio
        print(f'{key}: mmdet3d / ours = {ratio:.2f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == '__main__':
    main()
