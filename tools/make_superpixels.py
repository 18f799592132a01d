#!/usr/bin/env python
"""Compute the superpixels of every keyframe camera image of a nuScenes-format root.

Example::

    python tools/make_superpixels.py data/nuscenes --workers 2
    # -> data/nuscenes/superpixels/slic/samples/CAM_X/<image name>.png (uint16, ids 1..K)

Reads the info files of tools/create_data.py found in ROOT (all splits). Computed once:
existing maps are skipped (--force recomputes them); files are written atomically, so an
interrupted run resumes. LoadSuperpixels(method='slic') reads them (docs/lima.md).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='nuScenes root (holds samples/ and the info files)')
    parser.add_argument('--method', default='slic', choices=['slic'])
    parser.add_argument('--n-segments', type=int, default=150,
                        help='SLIC segments per image, approximately (default: %(default)s)')
    parser.add_argument('--compactness', type=float, default=6.0,
                        help='SLIC colour / space balance (default: %(default)s)')
    parser.add_argument('--sigma', type=float, default=3.0,
                        help='Gaussian smoothing before SLIC (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=1, help='processes (default: %(default)s)')
    parser.add_argument('--force', action='store_true', help='recompute existing maps')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    from perception_kd.utils.cli import tool_errors
    args = parse_args(argv)
    from perception_kd.datasets.superpixels import make_superpixels
    with tool_errors('make_superpixels.py', expected=(FileNotFoundError, ValueError, OSError)):
        summary = make_superpixels(args.root, args.method, args.n_segments, args.compactness,
                                   args.sigma, args.workers, args.force)
    print(f'superpixels/{args.method} of {args.root}: {summary}')


if __name__ == '__main__':
    main()
