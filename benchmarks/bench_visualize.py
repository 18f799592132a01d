#!/usr/bin/env python
"""Rendering speed of the visualisation: PNG frames/s for 10-sweep samples, side by side.

    python benchmarks/bench_visualize.py [--info data/nuscenes/nuscenes_infos_val.pkl]
        [--samples 10] [--size 1024 768]

For the first ``--samples`` samples of the info file that have 10 sweeps, in one process
with one reused Open3D offscreen renderer (CPU: Mesa llvmpipe), it times each step:
loading the cloud (keyframe + 10 sweeps), building the Open3D scene, rendering the
bird's-eye and the chase view, writing the PNG, and the other image kinds (camera mosaic,
matplotlib BEV plot). Then the end-to-end rate of ``tools/visualize.py --out`` (load,
build, both views, PNGs) with 10 sweeps and with the keyframe only. Ground truth and
noisy-GT predictions are drawn.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from perception_kd.visualization import (  # noqa: E402
    SampleSource,
    SampleVisualizer,
    SceneOptions,
    boxes_to_predictions,
    build_scene,
    camera_mosaic,
    plot_bev,
    save_png,
)
from perception_kd.visualization.offscreen import OffscreenRenderer  # noqa: E402
from perception_kd.visualization.results import noisy_gt_results  # noqa: E402


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def end_to_end(source, indices, results, sweeps, size, out_dir, voxel=None):
    """Frames/s of load + scene + both views + PNGs, as ``tools/visualize.py --out`` does."""
    visualizer = SampleVisualizer(out_dir, ('bev', 'chase'), SceneOptions(voxel_size=voxel),
                                  size)
    visualizer.visualize(source.load(indices[0], sweeps=sweeps))         # warm-up
    start = time.perf_counter()
    for idx in indices:
        sample = source.load(idx, sweeps=sweeps)
        preds = boxes_to_predictions(results[sample.token], sample.lidar2global, source.classes)
        visualizer.visualize(sample, preds)
    elapsed = time.perf_counter() - start
    visualizer.close()
    return 2 * len(indices) / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--info', default='data/nuscenes/nuscenes_infos_val.pkl')
    parser.add_argument('--samples', type=int, default=10)
    parser.add_argument('--size', type=int, nargs=2, default=[1024, 768])
    args = parser.parse_args()
    size = tuple(args.size)
    source = SampleSource.from_info_file(args.info)
    indices = [i for i in range(len(source))
               if len(source.info(i).get('lidar_sweeps', [])) >= 10][:args.samples]
    if not indices:
        sys.exit(f'no sample with 10 sweeps in {args.info}')
    results = noisy_gt_results(source)['results']
    steps = {name: [] for name in ('load keyframe + 10 sweeps', 'build Open3D scene',
                                   'render bev', 'render chase', 'write PNG (bev)',
                                   'camera mosaic (0.5x)', 'matplotlib BEV plot')}
    points = []
    with tempfile.TemporaryDirectory() as tmp, OffscreenRenderer(*size) as renderer:
        renderer.render(build_scene(source.load(indices[0], sweeps=10)), 'bev')   # warm-up
        for idx in indices:
            sample, t = timed(source.load, idx, sweeps=10)
            steps['load keyframe + 10 sweeps'].append(t)
            points.append(len(sample.points))
            preds = boxes_to_predictions(results[sample.token], sample.lidar2global,
                                         source.classes)
            scene, t = timed(build_scene, sample, preds)
            steps['build Open3D scene'].append(t)
            for view in ('bev', 'chase'):
                image, t = timed(renderer.render, scene, view)
                steps[f'render {view}'].append(t)
            _, t = timed(save_png, image, os.path.join(tmp, 'frame.png'))
            steps['write PNG (bev)'].append(t)
            _, t = timed(camera_mosaic, sample, preds)
            steps['camera mosaic (0.5x)'].append(t)
            _, t = timed(plot_bev, sample, preds)
            steps['matplotlib BEV plot'].append(t)
        renderer.close()
        rates = [(name, end_to_end(source, indices, results, sweeps, size, tmp, voxel))
                 for name, sweeps, voxel in (('10 sweeps', 10, None),
                                             ('10 sweeps, --voxel 0.1', 10, 0.1),
                                             ('keyframe only', 0, None))]

    print(f'{len(indices)} samples with 10 sweeps, {np.mean(points):.0f} points each on average; '
          f'Open3D images {size[0]}x{size[1]}')
    print(f'{"step":<30}{"median ms":>10}{"per s":>9}')
    for name, times in steps.items():
        median = float(np.median(times))
        print(f'{name:<30}{median * 1e3:>10.1f}{1 / median:>9.2f}')
    print('end to end (load, scene, bev + chase PNGs):')
    for name, rate in rates:
        print(f'  {name:<28}{rate:>6.2f} PNG frames/s   {rate / rates[0][1]:.2f}x')


if __name__ == '__main__':
    main()
