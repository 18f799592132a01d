#!/usr/bin/env python
"""Data pipeline throughput: samples/s of the training pipeline, side by side in one run.

    python benchmarks/bench_data_pipeline.py [--data-root data/nuscenes/] [--samples 40]

Variants (same samples, single process, no DataLoader workers):
- keyframe LiDAR only;
- keyframe + 10 sweeps (motion-compensated);
- keyframe + 10 sweeps + 6 camera images with image and BEV augmentation (the
  multimodal training pipeline of configs/_base_/datasets/nuscenes_multimodal.py).
Prints samples/s of each and the ratio to the keyframe-only variant.
"""
import argparse
import copy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import perception_kd  # noqa: E402
from perception_kd.registry import DATASETS  # noqa: E402

perception_kd.register_all_modules()

CONFIG = 'configs/_base_/datasets/nuscenes_multimodal.py'


def build(cfg, data_root, pipeline):
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset.update(data_root=data_root, pipeline=pipeline)
    return DATASETS.build(dataset)


def throughput(dataset, count):
    dataset[0]                                     # warm up (file cache, lazy init)
    start = time.perf_counter()
    points = 0
    for i in range(count):
        points += len(dataset[i % len(dataset)]['inputs']['points'])
    elapsed = time.perf_counter() - start
    return count / elapsed, points / count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--data-root', default='data/nuscenes/')
    parser.add_argument('--samples', type=int, default=40)
    args = parser.parse_args()
    init_default_scope('perception_kd')
    cfg = Config.fromfile(CONFIG)
    full = cfg.train_pipeline
    keep = ('LoadPointsFromFile', 'LoadAnnotations3D', 'BEVAugmentation', 'PointsRangeFilter',
            'ObjectRangeFilter', 'ObjectNameFilter', 'PointShuffle', 'Pack3DDetInputs')
    sweeps10 = [
        dict(t, sweeps_num=10) if t['type'] == 'LoadPointsFromMultiSweeps' else t for t in full
    ]
    lidar_only = [t for t in sweeps10 if t['type'] in keep]
    lidar_sweeps = [t for t in sweeps10 if t['type'] in keep + ('LoadPointsFromMultiSweeps',)]
    variants = [('keyframe LiDAR', lidar_only), ('keyframe + 10 sweeps', lidar_sweeps),
                ('10 sweeps + 6 images + aug', sweeps10)]
    results = [
        (name, *throughput(build(cfg, args.data_root, pipe), args.samples))
        for name, pipe in variants
    ]
    base = results[0][1]
    print(f'{"pipeline":<30}{"samples/s":>10}{"points/sample":>15}{"time vs keyframe":>18}')
    for name, rate, points in results:
        print(f'{name:<30}{rate:>10.2f}{points:>15.0f}{base / rate:>17.2f}x')


if __name__ == '__main__':
    main()
