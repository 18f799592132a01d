"""Ops parity: the project's old and new CPU paths side by side, and mmcv.ops when installed.

One process, the same inputs for every side, runs interleaved (side A, side B, ... per
repeat) so that load on the machine hits all sides alike; medians are reported.

- pillar voxelization (0.2 m x 0.2 m x 8 m, 20 points, 30000 voxels) and the 0.1 m 3D grid:
  ``voxelize(backend='torch')`` (the plain-torch path, the only one before) vs
  ``backend='spconv'`` (spconv's C++ PointToVoxel) vs ``backend='native'`` (the project's C++
  kernel, ``perception_kd/ops/csrc``; built on first use) vs ``backend='auto'`` (what the
  detectors use: native where it is built, else spconv up to 4M cells, torch above) vs
  ``mmcv.ops.Voxelization``;
- points in boxes (300k points, M boxes): ``method='dense'`` (before) vs ``'sorted'``
  (sorted x strips) vs ``mmcv.ops.points_in_boxes_cpu``, for the (N, M) mask, and
  ``points_in_boxes_idx`` (first box per point) for both of ours.

Every pair of our sides is checked equal before timing; mmcv's output is compared and the
agreement printed (its voxel order and its box z convention differ: bottom centre).

    python benchmarks/bench_ops_vs_mmcv.py                       # 1 thread, 7 repeats
    python benchmarks/bench_ops_vs_mmcv.py --repeats 15 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from perception_kd.ops import native, points_in_boxes, points_in_boxes_idx, voxelize  # noqa: E402

PILLARS = dict(voxel_size=[0.2, 0.2, 8.0], point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
               max_points=20, max_voxels=30000)
VOXELS = dict(voxel_size=[0.1, 0.1, 0.2], point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
              max_points=10, max_voxels=120000)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--points', type=int, default=300_000)
    parser.add_argument('--boxes', type=int, nargs='+', default=[50, 200])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=None, help='write the medians here')
    parser.add_argument('--ops', nargs='+', choices=('voxelize', 'boxes'),
                        default=['voxelize', 'boxes'], help='which ops to measure')
    return parser.parse_args(argv)


def lidar_like_cloud(num: int, seed: int) -> torch.Tensor:
    """(N, 5) float32: density falling with range as a spinning LiDAR's, 1-60 m, some
    points beyond the 51.2 m grid; z from -4 to 2 m."""
    gen = torch.Generator().manual_seed(seed)
    radius = 1.0 + 59.0 * torch.rand(num, generator=gen) ** 2
    angle = torch.rand(num, generator=gen) * 2 * torch.pi
    z = torch.rand(num, generator=gen) * 6.0 - 4.0
    return torch.stack([radius * angle.cos(), radius * angle.sin(), z,
                        torch.rand(num, generator=gen), torch.rand(num, generator=gen)], 1)


def random_boxes(num: int, seed: int) -> torch.Tensor:
    """(M, 7) float32 boxes (x, y, z centre, l, w, h, yaw) of car-to-bus sizes within 50 m."""
    gen = torch.Generator().manual_seed(seed + 1)
    centre = torch.rand(num, 2, generator=gen) * 100 - 50
    z = torch.rand(num, 1, generator=gen) * 2 - 2
    size = torch.rand(num, 3, generator=gen) * torch.tensor([10.0, 2.0, 2.5]) + \
        torch.tensor([0.5, 0.5, 1.0])
    yaw = torch.rand(num, 1, generator=gen) * 2 * torch.pi - torch.pi
    return torch.cat([centre, z, size, yaw], 1)


def run_interleaved(sides: dict, repeats: int) -> dict:
    for fn in sides.values():   # warm-up (allocations, caches)
        fn()
    times = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def mmcv_ops():
    try:
        from mmcv import ops
        ops.Voxelization, ops.points_in_boxes_cpu  # noqa: B018
        return ops, None
    except Exception as err:  # noqa: BLE001 - any import failure means "not installed here"
        return None, f'{type(err).__name__}: {err}'


def bench_voxelize(points, geometry, repeats, ops):
    args = (geometry['voxel_size'], geometry['point_cloud_range'], geometry['max_points'],
            geometry['max_voxels'])
    old = voxelize(points, *args, backend='torch')
    sides = {'old torch': lambda: voxelize(points, *args, backend='torch')}
    backends = ['spconv'] + (['native'] if native.available() else []) + ['auto']
    same = True
    for backend in backends:
        new = voxelize(points, *args, backend=backend)
        same = same and all(torch.equal(a, b) for a, b in zip(old, new))
        sides[backend] = lambda backend=backend: voxelize(points, *args, backend=backend)
    note = f'ours: {len(old.coords)} voxels, {" == ".join(["torch"] + backends)}: {same}'
    if ops is not None:
        layer = ops.Voxelization(geometry['voxel_size'], geometry['point_cloud_range'],
                                 geometry['max_points'], geometry['max_voxels'],
                                 deterministic=True)
        voxels, coords, num = layer(points)
        agree = len(coords) == len(old.coords) and torch.equal(coords.int(), old.coords) and \
            torch.equal(num.int(), old.num_points) and torch.equal(voxels, old.voxels)
        note += f'; mmcv: {len(coords)} voxels, identical to ours: {agree}'
        sides['mmcv'] = lambda: layer(points)
    return run_interleaved(sides, repeats), note, same


def bench_points_in_boxes(points, boxes, repeats, ops):
    dense = points_in_boxes(points, boxes, method='dense')
    same = torch.equal(points_in_boxes(points, boxes, method='sorted'), dense) and torch.equal(
        points_in_boxes_idx(points, boxes, method='sorted'),
        points_in_boxes_idx(points, boxes, method='dense'))
    sides = {'old dense mask': lambda: points_in_boxes(points, boxes, method='dense'),
             'new sorted mask': lambda: points_in_boxes(points, boxes, method='sorted'),
             'old dense idx': lambda: points_in_boxes_idx(points, boxes, method='dense'),
             'new sorted idx': lambda: points_in_boxes_idx(points, boxes, method='sorted')}
    note = f'{int(dense.sum())} point-box pairs inside, old == new: {same}'
    if ops is not None:
        bottom = boxes.clone()
        bottom[:, 2] -= boxes[:, 5] / 2   # mmcv: z of the bottom centre
        pts3, bxs = points[None, :, :3].contiguous(), bottom[None].contiguous()
        theirs = ops.points_in_boxes_cpu(pts3, bxs)[0].bool()
        note += f'; mmcv pairs differing from ours: {int((theirs != dense).sum())}'
        sides['mmcv cpu mask'] = lambda: ops.points_in_boxes_cpu(pts3, bxs)
    return run_interleaved(sides, repeats), note, same


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    ops, why = mmcv_ops()
    kernels = 'yes' if native.available() else f'no ({native.load_error()})'
    print(f'torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or "cpu"}, '
          f'loadavg {os.getloadavg()[0]:.1f}, mmcv.ops: {"yes" if ops else "no (" + why + ")"}, '
          f'native kernels: {kernels}')
    points = lidar_like_cloud(args.points, args.seed)
    results, all_same = {}, True
    with torch.no_grad():
        for name, geometry in (('voxelize pillars 0.2 m', PILLARS),
                               ('voxelize 0.1 m 3D', VOXELS)) if 'voxelize' in args.ops else ():
            times, note, same = bench_voxelize(points, geometry, args.repeats, ops)
            results[name], all_same = times, all_same and same
            report(name, times, note)
        for num in args.boxes if 'boxes' in args.ops else ():
            boxes = random_boxes(num, args.seed)
            name = f'points in {num} boxes'
            times, note, same = bench_points_in_boxes(points, boxes, args.repeats, ops)
            results[name], all_same = times, all_same and same
            report(name, times, note)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), medians_ms=results, mmcv=ops is not None), f,
                      indent=1)
    return 0 if all_same else 1


def report(name, times, note):
    base = next(iter(times.values()))
    print(f'\n{name}  ({note})')
    for side, ms in times.items():
        print(f'  {side:<18} median {ms:8.2f} ms   {base / ms:5.2f}x vs {next(iter(times))}')


if __name__ == '__main__':
    sys.exit(main())
