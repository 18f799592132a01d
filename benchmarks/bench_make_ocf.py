#!/usr/bin/env python
"""make_ocf throughput: keyframes/s and in-box points/s, side by side in one run.

    python benchmarks/bench_make_ocf.py [--data-root data/nuscenes] [--windows 0 1 2 4 8 all]
        [--voxel-sizes 0.05 0.1] [--repeats 2] [--tmp-dir DIR]

Runs :func:`perception_kd.ocf.make_ocf` on the demo set (``make demo``) into a temporary
folder (the data root and its info files are not touched; copies of the info files go
to the temporary folder), every keyframe rebuilt (``force``):
- the default options (whole track, as published) with 1 and with 2 worker processes;
- 1 worker with a growing temporal window (+-K keyframes; ``all`` = the whole track), to
  show how the time grows with the accumulated track length;
- 1 worker, whole track, with the added points thinned by a box-local voxel grid.
Also prints the in-box point ratio after/before and the OCF size in points per keyframe.
Wall times are those of make_ocf's build phase (reading raw clouds, building, writing
OCFs); rates are per wall second, as the tool prints them. CPU seconds (this process and
its worker processes) are also printed, and the ratios to the first row of each table
use them. Each setting runs ``--repeats`` times and the fastest run counts, which
steadies the numbers on a machine shared with other jobs.
"""
import argparse
import os
import resource
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from perception_kd.ocf import OCFOptions, make_ocf  # noqa: E402
from perception_kd.ocf.make import default_info_files  # noqa: E402


def cpu_seconds():
    """User + system CPU time of this process and its finished children (pool workers)."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def run(root, version, infos, out, workers, repeats, **options):
    """The fastest of ``repeats`` runs (by wall time) and its CPU seconds."""
    best = None
    for _ in range(repeats):
        start = cpu_seconds()
        summary = make_ocf(root, version=version, out=out, infos=infos, workers=workers,
                           options=OCFOptions(**options), force=True, progress=False,
                           info_suffix='_bench')
        cpu = cpu_seconds() - start      # includes reading the info files (~0.1 s)
        if best is None or summary.seconds < best[0].seconds:
            best = summary, cpu
    ocf_points = sum(os.path.getsize(os.path.join(out, name)) for name in os.listdir(out)
                     if name.endswith('.pcd.bin')) // 20
    return best[0], (ocf_points, best[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--data-root', default='data/nuscenes')
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--windows', nargs='+', default=['0', '1', '2', '4', '8', 'all'])
    parser.add_argument('--voxel-sizes', nargs='*', type=float, default=[0.05, 0.1])
    parser.add_argument('--repeats', type=int, default=2,
                        help='runs per setting; the fastest counts (default: %(default)s)')
    parser.add_argument('--tmp-dir', default=None,
                        help='where the OCFs are written (default: the system temp folder)')
    args = parser.parse_args()
    windows = [None if w == 'all' else int(w) for w in args.windows]
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        infos = []
        for path in default_info_files(args.data_root, args.version):
            infos.append(shutil.copy(path, tmp))
        out = os.path.join(tmp, 'ocf')
        rows = []
        for workers in (1, 2):
            summary, points = run(args.data_root, args.version, infos, out, workers,
                                  args.repeats)
            rows.append((f'whole track, {workers} worker{"s" if workers > 1 else ""}',
                         summary, points))
        frames = rows[0][1].frames_written
        window_rows = []
        for window in windows:
            summary, points = run(args.data_root, args.version, infos, out, 1, args.repeats,
                                  window=window)
            label = 'whole track' if window is None else f'+-{window} keyframes'
            window_rows.append((f'window {label}, 1 worker', summary, points))
        density_rows = [('whole track, 1 worker', *rows[0][1:])]
        for voxel in args.voxel_sizes:
            summary, points = run(args.data_root, args.version, infos, out, 1, args.repeats,
                                  voxel_size=voxel)
            density_rows.append((f'whole track, voxel {voxel} m, 1 worker', summary, points))

    print(f'{args.data_root}: {rows[0][1].scenes} scenes, {frames} keyframes, '
          f'{rows[0][1].annotations} annotations, {rows[0][1].raw_points / frames:.0f} raw '
          f'points/keyframe; {os.cpu_count()} CPUs, load average at the end '
          f'{os.getloadavg()[0]:.1f}')
    for title, table in (('workers', rows), ('track length', window_rows),
                         ('density (voxel thinning of the added points)', density_rows)):
        base = table[0][2][1]
        print(f'\n{title}:')
        print(f'{"run":<38}{"wall s":>8}{"CPU s":>8}{"keyframes/s":>13}{"raw in-box pts/s":>18}'
              f'{"OCF in-box pts/s":>18}{"after/before":>14}{"OCF pts/keyframe":>18}'
              f'{"CPU ratio":>11}')
        for name, summary, (points, cpu) in table:
            sec = summary.seconds
            print(f'{name:<38}{sec:>8.2f}{cpu:>8.2f}{summary.frames_written / sec:>13.2f}'
                  f'{summary.points_before / sec:>18.0f}{summary.points_after / sec:>18.0f}'
                  f'{summary.points_after / summary.points_before:>14.2f}'
                  f'{points / summary.frames_written:>18.0f}{cpu / base:>10.2f}x')


if __name__ == '__main__':
    main()
