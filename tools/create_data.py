"""Build the info files of a nuScenes-format root.

Example::

    python tools/create_data.py data/nuscenes --version v1.0-mini
    # -> data/nuscenes/nuscenes_infos_train.pkl, nuscenes_infos_val.pkl

``--check`` then reads every keyframe and sweep cloud and every camera image the info files
point to, once, and lists every bad file with its reason (missing, empty, size not a
multiple of the point record, NaN/inf values, undecodable image); exit status 1 if any::

    python tools/create_data.py data/nuscenes --version v1.0-mini --check

Works on real nuScenes (v1.0-mini / v1.0-trainval / v1.0-test) and on the synthetic tree
of ``tools/make_synthetic.py``. Layout of the files: ``docs/data_format.md``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='nuScenes root (holds <version>/, samples/, sweeps/)')
    parser.add_argument('--version', default='v1.0-mini',
                        choices=['v1.0-mini', 'v1.0-trainval', 'v1.0-test'])
    parser.add_argument('--out-dir', default=None, help='output folder (default: ROOT)')
    parser.add_argument('--prefix', default='nuscenes', help='file name prefix')
    parser.add_argument('--max-sweeps', type=int, default=10,
                        help='earlier LiDAR sweeps stored per keyframe')
    parser.add_argument('--check', action='store_true',
                        help='then read every cloud and image the info files point to and list '
                             'the bad ones (exit 1 if any)')
    parser.add_argument('--no-images', action='store_true',
                        help='with --check: read the clouds only')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Write the info files; returns ``{split: path}``. A bad root or an output folder that
    cannot be written exits with status 2 and one line naming the path."""
    from perception_kd.utils.cli import tool_errors
    args = parse_args(argv)
    from perception_kd.datasets.infos import create_nuscenes_infos
    with tool_errors('create_data.py', expected=(FileNotFoundError, ValueError, OSError)):
        paths = create_nuscenes_infos(args.root, version=args.version, out_dir=args.out_dir,
                                      prefix=args.prefix, max_sweeps=args.max_sweeps,
                                      progress=not args.no_progress)
    for split, path in paths.items():
        print(f'{split}: {path}')
    if args.check:
        from perception_kd.datasets.check import check_files
        from perception_kd.utils.cli import EXIT_PROBLEMS, ToolExit
        with tool_errors('create_data.py', expected=(FileNotFoundError, ValueError, OSError)):
            report = check_files(list(paths.values()), args.root, images=not args.no_images,
                                 progress=not args.no_progress)
        print(report.format())
        if not report.ok:
            message = (f'create_data.py: {len(report.problems)} bad file(s) (listed above); '
                       're-download or regenerate them, then run --check again')
            print(message, file=sys.stderr)
            raise ToolExit(message, code=EXIT_PROBLEMS)
    return paths


if __name__ == '__main__':
    main()
