r"""Build Object-Complete Frames (OCF) of a nuScenes-format root, for X-Ray distillation.

Example::

    python tools/make_ocf.py data/nuscenes --version v1.0-mini --workers 2
    # -> data/nuscenes/samples/LIDAR_TOP_OCF/<raw file name>.pcd.bin (one per keyframe)
    #    data/nuscenes/nuscenes_infos_{train,val}_ocf.pkl (samples carry ocf_path)

Semi-supervised: the scenes marked unlabelled by tools/split_infos.py (or named with
--pseudo-scenes) are patched along tracks linked from a detector's predictions:

    python tools/make_ocf.py data/nuscenes --pseudo-labels work_dirs/pseudo/results_nusc.json \
        --infos data/nuscenes/nuscenes_infos_train_labelled.pkl \
                data/nuscenes/nuscenes_infos_train_unlabelled.pkl \
                data/nuscenes/nuscenes_infos_val.pkl

Needs the info files of tools/create_data.py. The raw clouds and the original info files
are never modified; finished keyframes are skipped on a re-run (--force rebuilds them);
every file is written atomically. Options and layout: docs/ocf.md.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='nuScenes root (holds <version>/, samples/, the info files)')
    parser.add_argument('--version', default='v1.0-mini',
                        choices=['v1.0-mini', 'v1.0-trainval', 'v1.0-test'])
    parser.add_argument('--out', default='samples/LIDAR_TOP_OCF',
                        help='output folder, relative to ROOT or absolute (default: %(default)s)')
    parser.add_argument('--infos', nargs='+', default=None,
                        help='input info files (default: ROOT/nuscenes_infos_<split>.pkl)')
    parser.add_argument('--info-suffix', default='_ocf',
                        help='new info files are <name><suffix>.pkl (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=1,
                        help='processes, one scene each at a time (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='rebuild finished keyframes (and replace other options)')
    parser.add_argument('--scenes', nargs='+', default=None,
                        help='only these scenes (names like scene-0061, or tokens)')
    parser.add_argument('--shard', default=None,
                        help='i/n: only every n-th scene from i (0-based), for n machines')
    parser.add_argument('--infos-only', action='store_true',
                        help='build nothing; rewrite the info files from the OCFs on disk '
                             '(after all shards finished)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    group = parser.add_argument_group('builder options (defaults: the published generator)')
    group.add_argument('--window', type=int, default=None,
                       help='accumulate +-K keyframes around each one (default: whole track)')
    group.add_argument('--enlarge', type=float, default=0.0,
                       help='metres added to every box side for extraction/cropping (default 0)')
    group.add_argument('--ground-height', type=float, default=None,
                       help='points less than this height (m) above the box bottom are ground, '
                            'not object (default: off)')
    group.add_argument('--voxel-size', type=float, default=None,
                       help='box-local voxel (m) thinning the added points (default: off)')
    group.add_argument('--max-points', type=int, default=None,
                       help='cap of object points per annotation in an OCF (default: off)')
    group.add_argument('--no-crop', action='store_true',
                       help="keep accumulated points outside the current frame's box")
    group.add_argument('--skip-empty', action='store_true',
                       help='add nothing to annotations without raw in-box points in a keyframe '
                            '(default: fill them, as published)')
    group.add_argument('--zero-ring', action='store_true',
                       help='set the 5th column (ring index) of the whole OCF to 0, as published')
    group.add_argument('--seed', type=int, default=0, help='seed of the --max-points subsets')
    group = parser.add_argument_group('semi-supervised: pseudo labels for unlabelled scenes')
    group.add_argument('--pseudo-labels', metavar='RESULTS.json', default=None,
                       help='nuScenes detection results (tools/test.py) of the unlabelled scenes: '
                            'those marked labelled=False in the infos (tools/split_infos.py) and '
                            'those named with --pseudo-scenes are patched along tracks linked '
                            'from these predictions instead of annotations')
    group.add_argument('--pseudo-scenes', nargs='+', default=None,
                       help='also treat these scenes (names or tokens) as unlabelled')
    group.add_argument('--score-thr', type=float, default=None,
                       help='drop predictions scoring below it (default: 0.3)')
    group.add_argument('--link-factor', type=float, default=None,
                       help='link detections of consecutive keyframes (same class, global frame) '
                            'within this factor times the larger max(l, w) (default: 2)')
    group.add_argument('--no-velocity', action='store_true',
                       help='do not advance the previous centre by its predicted velocity when '
                            'linking')
    return parser.parse_args(argv)


def main(argv=None):
    """Build the OCFs; returns the summary. Bad input (root, info files, clouds, options) and
    output folders that cannot be written exit with status 2 and one line naming the file
    (see docs/reliability.md)."""
    from perception_kd.utils.cli import ToolError, tool_errors
    with tool_errors('make_ocf.py', expected=(FileNotFoundError, ValueError, KeyError,
                                              OSError)):
        args = parse_args(argv)
        from perception_kd.ocf import OCFOptions, PseudoLabelOptions, make_ocf
        if args.pseudo_labels is None and args.pseudo_scenes:
            raise ToolError('--pseudo-scenes needs --pseudo-labels RESULTS.json')
        pseudo_kwargs = dict(use_velocity=not args.no_velocity)
        for key in ('score_thr', 'link_factor'):       # None: the library's default
            if getattr(args, key) is not None:
                pseudo_kwargs[key] = getattr(args, key)
        options = OCFOptions(window=args.window, enlarge=args.enlarge,
                             ground_height=args.ground_height, voxel_size=args.voxel_size,
                             max_points=args.max_points, crop_to_box=not args.no_crop,
                             skip_empty=args.skip_empty, zero_ring=args.zero_ring,
                             seed=args.seed)
        summary = make_ocf(args.root, version=args.version, out=args.out, infos=args.infos,
                           options=options, workers=args.workers, scenes=args.scenes,
                           shard=args.shard, force=args.force, info_suffix=args.info_suffix,
                           infos_only=args.infos_only, progress=not args.no_progress,
                           pseudo_labels=args.pseudo_labels, pseudo_scenes=args.pseudo_scenes,
                           pseudo_options=PseudoLabelOptions(**pseudo_kwargs))
    print(summary.format())
    return summary


if __name__ == '__main__':
    main()
