"""Voxelization: perception_kd.ops.voxelize (plain torch) vs spconv's PointToVoxel.

Both get the same random cloud in a nuScenes-like range (CenterPoint's nuScenes voxel
grid by default) and the same caps; the script checks they produce the same voxels, then
times several repetitions of each and prints the median/min times and their ratio.

    python benchmarks/bench_voxelize.py                 # 300k points, CPU, torch's threads
    python benchmarks/bench_voxelize.py --threads 1 --repeats 20
    python benchmarks/bench_voxelize.py --device cuda   # where a GPU is available
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# perception_kd first: its import silences spconv's torch.cuda.amp deprecation warnings
# isort: off
from perception_kd.ops.voxelize import voxelize  # noqa: E402
from spconv.pytorch.utils import PointToVoxel  # noqa: E402
# isort: on


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--points', type=int, default=300_000)
    parser.add_argument('--features', type=int, default=5, help='x, y, z, intensity, time')
    parser.add_argument('--voxel-size', type=float, nargs=3, default=[0.1, 0.1, 0.2])
    parser.add_argument(
        '--range', type=float, nargs=6, default=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
    )
    parser.add_argument('--max-points', type=int, default=10)
    parser.add_argument('--max-voxels', type=int, default=120_000)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads (default: torch)'
    )
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def random_cloud(args) -> torch.Tensor:
    """Uniform points over the range grown by 5% per side (so some fall outside)."""
    gen = torch.Generator().manual_seed(args.seed)
    lo, hi = torch.tensor(args.range[:3]), torch.tensor(args.range[3:])
    margin = 0.05 * (hi - lo)
    xyz = torch.rand(args.points, 3, generator=gen) * (hi - lo + 2 * margin) + lo - margin
    extra = torch.rand(args.points, args.features - 3, generator=gen)
    return torch.cat([xyz, extra], 1).to(args.device)


def timed(fn, repeats: int, warmup: int, device: torch.device):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    points = random_cloud(args)
    generator = PointToVoxel(vsize_xyz=args.voxel_size, coors_range_xyz=args.range,
                             num_point_features=args.features, max_num_voxels=args.max_voxels,
                             max_num_points_per_voxel=args.max_points, device=device)

    def ours():
        return voxelize(points, args.voxel_size, args.range, args.max_points, args.max_voxels)

    def theirs():
        return generator(points)

    mine, ref = ours(), theirs()
    same = len(mine.coords) == len(ref[1]) and \
        set(map(tuple, mine.coords.tolist())) == set(map(tuple, ref[1].tolist())) and \
        int(mine.num_points.sum()) == int(ref[2].sum())
    print(f'torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'device {device}, threads {torch.get_num_threads()}')
    print(f'{args.points} points x {args.features} features, voxel {args.voxel_size}, '
          f'range {args.range}, max {args.max_points} pts/voxel, {args.max_voxels} voxels')
    print(
        f'voxels: ours {len(mine.coords)}, spconv {len(ref[1])}, same voxel set and counts: {same}'
    )

    results = {}
    for name, fn in (('perception_kd.ops.voxelize', ours), ('spconv PointToVoxel', theirs)):
        times = timed(fn, args.repeats, args.warmup, device)
        results[name] = statistics.median(times)
        print(f'{name:28s} median {1e3 * statistics.median(times):8.2f} ms   '
              f'min {1e3 * min(times):8.2f} ms   ({args.repeats} runs)')
    ratio = results['perception_kd.ops.voxelize'] / results['spconv PointToVoxel']
    print(f'ratio ours / spconv (median): {ratio:.2f}x')


if __name__ == '__main__':
    main()
