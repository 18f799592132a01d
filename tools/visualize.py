#!/usr/bin/env python
"""Look at samples: LiDAR cloud, ground truth and predictions, in 3D, cameras and BEV.

Examples::

    # interactive Open3D window (needs a display); N / P step through the samples
    python tools/visualize.py --info data/nuscenes/nuscenes_infos_val.pkl --sample-idx 5

    # headless: Open3D bird's-eye + chase PNGs, the camera mosaic and a BEV plot
    python tools/visualize.py --config configs/_base_/datasets/nuscenes_multimodal.py \\
        --results work_dirs/x/results_nusc.json --sample-idx 5 --sweeps 10 \\
        --out vis/ --cameras --bev

    # a whole scene as an animated GIF (or --video mp4)
    python tools/visualize.py --info data/nuscenes/nuscenes_infos_val.pkl \\
        --scene scene-0103 --out vis/ --views bev --video gif

    # a stand-in detector for trying it out: the ground truth with noise
    python tools/visualize.py --info data/nuscenes/nuscenes_infos_val.pkl \\
        --write-noisy-gt vis/noisy_results.json

Predictions are read from a nuScenes results JSON (``NuScenesDetMetric``'s
``results_nusc.json``, global frame) and moved into each sample's LiDAR frame with its
info's ``lidar2ego`` / ``ego2global``. See docs/visualization.md.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

VIEW_CHOICES = ('bev', 'chase', 'none')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--config', help='config whose <split>_dataloader dataset gives the infos')
    src.add_argument('--info', help='info file (.pkl) of tools/create_data.py')
    parser.add_argument('--split', default='val', help='dataloader of --config (default val)')
    parser.add_argument('--data-root', help='nuScenes root (default: the config\'s, or the '
                                            'info file\'s folder)')
    parser.add_argument('--results', help='nuScenes results JSON (global frame) to draw')
    sel = parser.add_mutually_exclusive_group()
    sel.add_argument('--sample-idx', type=int, nargs='+', help='sample index(es) in the infos')
    sel.add_argument('--sample-token', nargs='+', help='nuScenes sample token(s)')
    sel.add_argument('--scene', help='all samples of a scene (name, e.g. scene-0103, or token)')
    parser.add_argument('--num', type=int, help='at most this many samples of the selection '
                                                '(default: all of it; sample 0 without one)')
    parser.add_argument('--sweeps', type=int, default=0, help='LiDAR sweeps merged (0: keyframe)')
    parser.add_argument('--color', default='height',
                        choices=['height', 'intensity', 'lidarseg', 'time'],
                        help='point colours (lidarseg: the info\'s lidarseg labels)')
    parser.add_argument('--score-thr', type=float, default=0.3, help='hide weaker predictions')
    parser.add_argument('--no-gt', action='store_true', help='do not draw the ground truth')
    parser.add_argument('--ocf', choices=['over', 'beside'],
                        help='also draw the Object-Complete Frame (info ocf_path) over or beside '
                             'the raw cloud')
    parser.add_argument('--range', type=float, default=54.0, help='BEV half-size in metres')
    parser.add_argument('--voxel', type=float,
                        help='Open3D: draw one point per voxel of this size in metres (e.g. '
                             '0.1; ~3x faster with 10 sweeps); default every point')
    parser.add_argument('--out', help='output folder: render PNGs headless instead of a window')
    parser.add_argument('--views', nargs='+', default=['bev', 'chase'], choices=VIEW_CHOICES,
                        help='Open3D views written with --out (none: no Open3D image)')
    parser.add_argument('--size', type=int, nargs=2, default=[1024, 768], metavar=('W', 'H'),
                        help='Open3D image size')
    parser.add_argument('--cameras', action='store_true', help='write the 6-camera mosaic')
    parser.add_argument('--mosaic-scale', type=float, default=0.5,
                        help='camera tile size relative to the images')
    parser.add_argument('--bev', action='store_true', help='write a matplotlib BEV plot')
    parser.add_argument('--bev-size', type=int, default=1000, help='BEV plot side in pixels')
    parser.add_argument('--heatmap', help='.npy (H, W) BEV map drawn under the BEV plot')
    parser.add_argument('--grid', type=float, nargs='+', metavar='V',
                        help='the heatmap\'s BEV grid: X_MIN Y_MIN X_MAX Y_MAX CELL, or a '
                             'point_cloud_range (6 values; cell from the heatmap); default: the '
                             'config\'s point_cloud_range')
    parser.add_argument('--video', choices=['gif', 'mp4'],
                        help='also join each kind of frame into an animation (with --out)')
    parser.add_argument('--fps', type=float, default=2.0, help='video frame rate')
    parser.add_argument('--no-legend', action='store_true', help='no title / legend on images')
    parser.add_argument('--write-noisy-gt', metavar='JSON',
                        help='write a results JSON made of the ground truth with noise and exit')
    parser.add_argument('--seed', type=int, default=0, help='seed of --write-noisy-gt')
    return parser.parse_args(argv)


def build_source(args):
    from perception_kd.visualization import SampleSource
    if args.config:
        return SampleSource.from_config(args.config, args.split, args.data_root)
    return SampleSource.from_info_file(args.info, args.data_root)


def select(args, source) -> list:
    """Sample indices chosen by --sample-idx / --sample-token / --scene (and --num)."""
    if args.sample_idx:
        for idx in args.sample_idx:
            if not 0 <= idx < len(source):
                raise IndexError(f'--sample-idx {idx} out of range: {source.ann_file} has '
                                 f'{len(source)} samples')
        indices = list(args.sample_idx)
    elif args.sample_token:
        indices = [source.index_of_token(token) for token in args.sample_token]
    elif args.scene:
        indices = source.scene_indices(args.scene)
    else:
        indices = list(range(len(source))) if args.num else [0]
    return indices[:args.num] if args.num else indices


def heatmap_and_grid(args):
    """The --heatmap array and its BEVGrid (from --grid or the config's point_cloud_range)."""
    import numpy as np

    from perception_kd.structures import BEVGrid
    from perception_kd.visualization import grid_for_heatmap
    if not args.heatmap:
        return None, None
    if not osp.isfile(args.heatmap):
        raise FileNotFoundError(f'heatmap file {args.heatmap} not found')
    heatmap = np.load(args.heatmap)
    heatmap = heatmap.squeeze() if heatmap.ndim > 2 else heatmap
    grid_values = args.grid
    if grid_values is None and args.config:
        from mmengine.config import Config
        grid_values = Config.fromfile(args.config).get('point_cloud_range')
    if grid_values is None:
        raise ValueError('--heatmap needs --grid X_MIN Y_MIN X_MAX Y_MAX CELL (or a config with '
                         'point_cloud_range)')
    if len(grid_values) == 5:
        x0, y0, x1, y1, cell = grid_values
        grid = BEVGrid(x0, y0, x1, y1, cell)
        if grid.shape != heatmap.shape:
            raise ValueError(f'heatmap {args.heatmap} has shape {heatmap.shape} but --grid gives '
                             f'(H, W) {grid.shape}')
        return heatmap, grid
    if len(grid_values) == 6:
        return heatmap, grid_for_heatmap(heatmap.shape, grid_values)
    raise ValueError(f'--grid takes 5 values (X_MIN Y_MIN X_MAX Y_MAX CELL) or 6 (a '
                     f'point_cloud_range), got {len(grid_values)}')


def main(argv=None) -> int:
    """Draw; 0 when done. Bad input (info file, clouds, results, options) exits with status 2
    and one line naming the file (see docs/reliability.md)."""
    from perception_kd.utils.cli import tool_errors
    with tool_errors('visualize.py', expected=(FileNotFoundError, KeyError, ValueError,
                                               IndexError, RuntimeError, OSError)):
        return _main(argv)


def _main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from perception_kd.visualization import (
        Predictions,
        SampleVisualizer,
        SceneOptions,
        boxes_to_predictions,
        lidarseg_colormap,
        load_results,
        write_video,
    )
    from perception_kd.visualization.interactive import InteractiveViewer, has_display
    from perception_kd.visualization.results import noisy_gt_results
    from perception_kd.visualization.scene import build_scene

    source = build_source(args)
    if args.write_noisy_gt:
        os.makedirs(osp.dirname(osp.abspath(args.write_noisy_gt)), exist_ok=True)
        with open(args.write_noisy_gt, 'w') as f:
            json.dump(noisy_gt_results(source, seed=args.seed), f)
        print(f'wrote {args.write_noisy_gt}: noisy ground truth of {len(source)} samples')
        return 0
    indices = select(args, source)
    results = load_results(args.results, source.tokens, source.ann_file) if args.results else {}
    heatmap, grid = heatmap_and_grid(args)
    table = lidarseg_colormap(source.data_root, source.version) if args.color == 'lidarseg' \
        else None
    options = SceneOptions(point_color=args.color, score_thr=args.score_thr,
                           show_gt=not args.no_gt, ocf=args.ocf, bev_range=args.range,
                           voxel_size=args.voxel)

    def load(idx):
        sample = source.load(idx, sweeps=args.sweeps, lidarseg=args.color == 'lidarseg',
                             ocf=args.ocf is not None)
        boxes = results.get(sample.token)
        preds = boxes_to_predictions(boxes, sample.lidar2global, source.classes, sample.token) \
            if boxes else Predictions.empty()
        return sample, preds

    if not args.out:
        if args.cameras or args.bev or args.video:
            raise ValueError('--cameras, --bev and --video write files: add --out DIR')
        if not has_display():
            raise RuntimeError('no display for the interactive window (DISPLAY / WAYLAND_DISPLAY '
                               'unset); pass --out DIR to render PNGs headless')
        all_indices = indices if len(indices) > 1 else list(range(len(source)))
        start = all_indices.index(indices[0])
        InteractiveViewer(lambda idx: build_scene(*load(idx), options, table), all_indices,
                          start, point_size=2.0).run()
        return 0

    kinds = [view for view in args.views if view != 'none']
    kinds += ['cameras'] if args.cameras else []
    kinds += ['bevplot'] if args.bev else []
    if not kinds:
        raise ValueError('nothing to write: --views none without --cameras or --bev')
    visualizer = SampleVisualizer(args.out, kinds, options, tuple(args.size), args.mosaic_scale,
                                  args.bev_size, legend=not args.no_legend, lidarseg_table=table)
    frames = {kind: [] for kind in kinds}
    try:
        for idx in tqdm(indices, desc='rendering', unit='sample', disable=len(indices) < 2):
            sample, preds = load(idx)
            for kind, path in visualizer.visualize(sample, preds, heatmap, grid).items():
                frames[kind].append(path)
    finally:
        visualizer.close()
    written = [path for paths in frames.values() for path in paths]
    if args.video:
        name = args.scene or f'samples_{indices[0]}-{indices[-1]}'
        for kind, paths in frames.items():
            written.append(write_video(paths, osp.join(args.out, f'{name}_{kind}.{args.video}'),
                                       args.fps))
            print(f'video: {written[-1]} ({len(paths)} frames)')
    print(f'wrote {len(written)} files to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
