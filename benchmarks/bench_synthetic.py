#!/usr/bin/env python
"""Synthetic dataset generation time per scene: the demo settings vs nuScenes-like rates.

    python benchmarks/bench_synthetic.py [--keyframes 10]

Generates one scene with each setting, side by side in one run (single process), and
prints seconds per scene, per keyframe and the ratio; also the split of one keyframe's
time between LiDAR ray casting and camera rendering.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from perception_kd.datasets.synthetic import SyntheticConfig, generate_dataset  # noqa: E402
from perception_kd.datasets.synthetic.camera import CAMERAS, Rasteriser  # noqa: E402
from perception_kd.datasets.synthetic.catalog import LIDARSEG_INDEX  # noqa: E402
from perception_kd.datasets.synthetic.lidar import LidarModel, cast_rays, lidar2ego_transform  # noqa: E402
from perception_kd.datasets.synthetic.world import build_world  # noqa: E402


def time_scene(keyframes, **options):
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        generate_dataset(
            SyntheticConfig(out=root, scenes=1, keyframes=keyframes, workers=1, **options),
            progress=False,
        )
        elapsed = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    return elapsed, size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--keyframes', type=int, default=10)
    args = parser.parse_args()
    demo = time_scene(args.keyframes, lidar_hz=10, image_size=(800, 450))
    full = time_scene(args.keyframes, lidar_hz=20, image_size=(1600, 900))
    print(f'{"setting":<34}{"s/scene":>9}{"s/keyframe":>12}{"MiB/scene":>11}')
    for name, (sec, size) in (
        ('demo (10 Hz, 800x450)', demo),
        ('nuScenes-like (20 Hz, 1600x900)', full),
    ):
        print(f'{name:<34}{sec:>9.2f}{sec / args.keyframes:>12.3f}{size / 2**20:>11.1f}')
    print(
        f'ratio nuScenes-like / demo: {full[0] / demo[0]:.2f}x time, {full[1] / demo[1]:.2f}x size'
    )

    world = build_world(np.random.default_rng(0), 20.0, LIDARSEG_INDEX)
    model = LidarModel()
    dirs = model.directions()
    pose = world.ego_pose(0.0) @ lidar2ego_transform()
    start = time.perf_counter()
    for _ in range(5):
        cast_rays(model, world.primitives(0.0), pose, world, np.random.default_rng(0), dirs)
    lidar = (time.perf_counter() - start) / 5
    start = time.perf_counter()
    for spec in CAMERAS:
        Rasteriser(spec, 800, 450).render(world, 0.0, world.ego_pose(0.0))
    cams = time.perf_counter() - start
    print(f'one sweep ray cast ({model.beams}x{model.azimuth_steps} rays): {lidar * 1e3:.0f} ms; '
          f'6 cameras 800x450: {cams * 1e3:.0f} ms; ratio cameras/sweep {cams / lidar:.1f}x')


if __name__ == '__main__':
    main()
