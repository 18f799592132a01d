#!/usr/bin/env python
"""Generate the synthetic nuScenes-format dataset (the embedded default dataset).

Example:
    python tools/make_synthetic.py --out data/nuscenes                     # demo set
    python tools/make_synthetic.py --out data/nuscenes_full --keyframes 40 \\
        --lidar-hz 20 --image-size 1600x900                               # nuScenes-like rates
    python tools/make_synthetic.py --out data/nuscenes_big --version v1.0-trainval --scenes 50
    python tools/make_synthetic.py --out data/nuscenes_bench --version v1.0-trainval \
        --scenes 24 --val-scenes 12 --no-image-maps                      # benchmark world
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from perception_kd.datasets.synthetic import SyntheticConfig, generate_dataset  # noqa: E402
from perception_kd.utils.cli import ToolError, tool_errors  # noqa: E402


def image_size(text: str):
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'image size must look like 800x450, got {text!r}') from None
    return width, height


def parse_args(argv=None):
    defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--out', default=defaults.out, help='dataset root to write (default %(default)s)'
    )
    parser.add_argument(
        '--version', default=defaults.version, choices=['v1.0-mini', 'v1.0-trainval']
    )
    parser.add_argument('--scenes', type=int, default=None,
                        help='number of scenes (default 10; mini has at most 10 names)')
    parser.add_argument('--val-scenes', type=int, default=None,
                        help='v1.0-trainval: how many of the scenes are val scenes (default: '
                        '1 in 5, as the real split); a larger val split resolves smaller '
                        'differences (docs/results.md, seed spread)')
    parser.add_argument(
        '--keyframes',
        type=int,
        default=defaults.keyframes,
        help='keyframes per scene at 2 Hz (default %(default)s; real scenes have ~40)',
    )
    parser.add_argument('--lidar-hz', type=int, default=defaults.lidar_hz,
                        help='LiDAR sweeps per second, even (default %(default)s; real: 20)')
    parser.add_argument('--image-size', type=image_size, default=defaults.image_size,
                        help='camera image WxH (default 800x450; real: 1600x900)')
    parser.add_argument(
        '--beams', type=int, default=defaults.beams, help='LiDAR beams (default 32)'
    )
    parser.add_argument('--seed', type=int, default=defaults.seed)
    parser.add_argument(
        '--workers', type=int, default=defaults.workers, help='processes, one scene each'
    )
    parser.add_argument('--no-lidarseg', action='store_true', help='do not write lidarseg labels')
    parser.add_argument('--no-image-maps', action='store_true',
                        help='do not write the exact segment maps (superpixels/render) and 2D '
                             'semantic maps (semantic2d) of the camera images (docs/lima.md)')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing <out>/<version>'
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = SyntheticConfig(
        out=args.out,
        version=args.version,
        scenes=args.scenes,
        val_scenes=args.val_scenes,
        keyframes=args.keyframes,
        lidar_hz=args.lidar_hz,
        image_size=args.image_size,
        seed=args.seed,
        workers=args.workers,
        beams=args.beams,
        lidarseg=not args.no_lidarseg,
        image_maps=not args.no_image_maps,
        overwrite=args.overwrite,
    )
    start = time.time()
    # an existing <out>/<version> without --overwrite, bad sizes, an unwritable --out
    with tool_errors('make_synthetic.py', expected=(FileExistsError, ValueError, OSError)):
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise ToolError(f'--out {args.out} is a file, not a folder; choose a folder')
        counts = generate_dataset(cfg)
    size = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(args.out) for f in files
    )
    print(
        f'wrote {args.out} ({args.version}): '
        + ', '.join(f'{v} {k}' for k, v in counts.items())
        + f'; {size / 2**20:.0f} MiB in {time.time() - start:.0f} s'
    )


if __name__ == '__main__':
    main()
