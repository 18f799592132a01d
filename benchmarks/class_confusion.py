"""Which class does a detector give the ground-truth objects of some classes?

For every ground-truth box of the chosen classes in the evaluation split, the class of the
nearest prediction (score >= --min-score, BEV centre within --radius metres, same sample),
or ``none``; counted per ground-truth class and motion state
(moving: speed > --moving m/s). A quick look at class confusion that mAP hides (a class
found under another name scores as missed).

    python benchmarks/class_confusion.py work_dirs/run/eval_val/results_nusc.json \\
        --data-root data/nuscenes_bench --version v1.0-trainval --classes bicycle motorcycle
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('results', help='nuScenes results JSON (tools/test.py --out-json)')
    parser.add_argument('--data-root', default='data/nuscenes')
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--eval-set', default=None, help='default: mini_val for mini, else val')
    parser.add_argument('--classes', nargs='+', default=['bicycle', 'motorcycle'])
    parser.add_argument('--min-score', type=float, default=0.2)
    parser.add_argument('--radius', type=float, default=1.0, help='BEV centre distance (m)')
    parser.add_argument('--moving', type=float, default=0.5, help='speed threshold (m/s)')
    return parser.parse_args(argv)


def confusion(gt, results: dict, classes, min_score: float, radius: float,
              moving: float) -> dict:
    """``{(gt class, 'moving'|'static'): {predicted class or 'none': count}}``."""
    table: dict = {}
    for token in gt.sample_tokens:
        preds = [p for p in results.get(token, []) if p['detection_score'] >= min_score]
        centres = np.array([p['translation'][:2] for p in preds]).reshape(-1, 2)
        for box in gt[token]:
            if box.detection_name not in classes:
                continue
            velocity = np.asarray(box.velocity[:2], dtype=float)
            speed = float(np.hypot(*velocity)) if np.all(np.isfinite(velocity)) else 0.0
            key = (box.detection_name, 'moving' if speed > moving else 'static')
            dist = np.hypot(*(centres - np.asarray(box.translation[:2])).T) if len(preds) \
                else np.zeros(0)
            name = preds[int(np.argmin(dist))]['detection_name'] \
                if len(dist) and dist.min() < radius else 'none'
            counts = table.setdefault(key, {})
            counts[name] = counts.get(name, 0) + 1
    return table


def main(argv=None) -> int:
    args = parse_args(argv)
    from nuscenes import NuScenes
    from nuscenes.eval.common.loaders import load_gt
    from nuscenes.eval.detection.data_classes import DetectionBox

    from perception_kd.evaluation.nuscenes_metric import default_eval_set
    eval_set = args.eval_set or default_eval_set(args.version)
    nusc = NuScenes(args.version, args.data_root, verbose=False)
    gt = load_gt(nusc, eval_set, DetectionBox, verbose=False)
    with open(args.results) as f:
        results = json.load(f)['results']
    table = confusion(gt, results, args.classes, args.min_score, args.radius, args.moving)
    print(f'{args.results}: nearest prediction (score >= {args.min_score}, within '
          f'{args.radius} m) of each ground-truth box, split {eval_set}')
    for (name, state), counts in sorted(table.items()):
        total = sum(counts.values())
        ranked = ', '.join(f'{k} {v}' for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        print(f'  {name}, {state} ({total}): {ranked}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
