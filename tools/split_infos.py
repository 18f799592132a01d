r"""Split an info file by scene into a labelled and an unlabelled part (semi-supervised).

Example::

    python tools/split_infos.py data/nuscenes/nuscenes_infos_train.pkl \
        --labelled-fraction 0.5 --seed 0
    # -> data/nuscenes/nuscenes_infos_train_labelled.pkl    (the labelled scenes, unchanged)
    #    data/nuscenes/nuscenes_infos_train_unlabelled.pkl
    #        (the others: labelled=False, no instances)

Scenes (not samples) are split: a seeded random fraction of them, or the scenes named with
--labelled-scenes. The input is never modified; existing outputs are replaced only with
--force; files are written atomically. The recipe that uses them: docs/ocf.md,
"Semi-supervised".
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('infos', help='info file to split (e.g. ROOT/nuscenes_infos_train.pkl)')
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--labelled-fraction', type=float,
                       help='fraction of the scenes that stay labelled, in (0, 1)')
    which.add_argument('--labelled-scenes', nargs='+',
                       help='the labelled scenes (names like scene-0061, or tokens)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random choice of scenes (default: %(default)s)')
    parser.add_argument('--out-labelled', help='default: <infos>_labelled.pkl')
    parser.add_argument('--out-unlabelled', help='default: <infos>_unlabelled.pkl')
    parser.add_argument('--root', help='nuScenes root for scene names (default: the folder of '
                                       'the info file)')
    parser.add_argument('--force', action='store_true', help='replace existing outputs')
    return parser.parse_args(argv)


def main(argv=None):
    from perception_kd.utils.cli import tool_errors
    args = parse_args(argv)
    from perception_kd.datasets.split import split_info_file
    # a missing or broken info file, an existing output, unknown scenes: one line, exit 2
    with tool_errors('split_infos.py', expected=(FileNotFoundError, FileExistsError, ValueError,
                                                 KeyError, OSError)):
        result = split_info_file(args.infos, labelled_fraction=args.labelled_fraction,
                                 seed=args.seed, labelled_scenes=args.labelled_scenes,
                                 out_labelled=args.out_labelled,
                                 out_unlabelled=args.out_unlabelled, root=args.root,
                                 force=args.force)
    print(result.format())
    return result


if __name__ == '__main__':
    main()
