"""Build Object-Complete Frames (OCF) of a nuScenes-format root, for X-Ray distillation.

Example::

    python tools/make_ocf.py data/nuscenes --version v1.0-mini --workers 2
    # -> data/nuscenes/samples/LIDAR_TOP_OCF/<raw file name>.pcd.bin (one per keyframe)
    #    data/nuscenes/nuscenes_infos_{train,val}_ocf.pkl (samples carry ocf_path)

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
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from perception_kd.ocf import OCFOptions, make_ocf
    try:
        options = OCFOptions(window=args.window, enlarge=args.enlarge,
                             ground_height=args.ground_height, voxel_size=args.voxel_size,
                             max_points=args.max_points, crop_to_box=not args.no_crop,
                             skip_empty=args.skip_empty, zero_ring=args.zero_ring,
                             seed=args.seed)
        summary = make_ocf(args.root, version=args.version, out=args.out, infos=args.infos,
                           options=options, workers=args.workers, scenes=args.scenes,
                           shard=args.shard, force=args.force, info_suffix=args.info_suffix,
                           infos_only=args.infos_only, progress=not args.no_progress)
    except (FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f'error: {err.args[0] if isinstance(err, KeyError) else err}')
    print(summary.format())
    return summary


if __name__ == '__main__':
    main()
