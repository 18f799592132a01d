"""Does a detector's velocity head beat predicting zero? One results file, two evaluations.

Evaluates a nuScenes results JSON (``tools/test.py`` writes one) with the official devkit
twice: as it is, and with every box's velocity set to (0, 0) - the control a detector
without a motion cue would reach. Boxes, scores and hence mAP are the same in both; only
mAVE (and through it NDS) can differ. Also prints the distribution of predicted speeds
and of the ground-truth speeds of the evaluated split.

    python benchmarks/velocity_check.py work_dirs/centerpoint_lidar_cpu/eval_raw/results_nusc.json
    python benchmarks/velocity_check.py RESULTS --data-root data/nuscenes --version v1.0-mini
"""
from __future__ import annotations

import argparse
import copy
import json
import os.path as osp
import sys
import tempfile

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results', help='nuScenes results JSON (tools/test.py writes one)')
    parser.add_argument('--data-root', default='data/nuscenes')
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--eval-set', default=None, help='default: mini_val for mini, else val')
    parser.add_argument('--eval-config', default='detection_cvpr_2019')
    return parser.parse_args(argv)


def evaluate(metric, nusc, results: dict) -> dict:
    """The metric's own devkit evaluation of ``results``: flat ``mAP``, ``NDS``, ``mAVE``,
    ``<class>_AVE``, ..."""
    with tempfile.TemporaryDirectory(prefix='velocity_check_') as tmp:
        path = osp.join(tmp, 'results_nusc.json')
        with open(path, 'w') as f:
            json.dump(results, f)
        return metric._evaluate(nusc, path, tmp)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.results):
        sys.exit(f'results file {args.results} not found; write one with '
                 '`python tools/test.py CONFIG CHECKPOINT`')
    from perception_kd.evaluation import NuScenesDetMetric

    # the metric's devkit plumbing: tables, the evaluated split (custom splits too), eval
    metric = NuScenesDetMetric(data_root=args.data_root, ann_file='', version=args.version,
                               eval_set=args.eval_set, eval_config=args.eval_config)
    with open(args.results) as f:
        results = json.load(f)
    if not isinstance(results, dict) or not isinstance(results.get('results'), dict):
        sys.exit(f'{args.results} is not a nuScenes results file (a dict with "results")')
    nusc = metric._load_nusc()

    zero = copy.deepcopy(results)
    pred_speeds = []
    for boxes in zero['results'].values():
        for box in boxes:
            pred_speeds.append(float(np.hypot(*box['velocity'][:2])))
            box['velocity'] = [0.0, 0.0]
    gt_speeds = []
    for token in metric._split_tokens(nusc):
        for ann_token in nusc.get('sample', token)['anns']:
            speed = np.hypot(*nusc.box_velocity(ann_token)[:2])
            if np.isfinite(speed):
                gt_speeds.append(float(speed))

    rows = [(name, evaluate(metric, nusc, res))
            for name, res in (('as predicted', results), ('velocity = 0', zero))]
    classes = [name[:-len('_AVE')] for name, value in rows[0][1].items()
               if name.endswith('_AVE') and np.isfinite(value)]
    pct = (50, 75, 90, 99)
    print(f'results: {args.results} ({len(pred_speeds)} boxes), split {metric.eval_set}')
    print(
        'speed percentiles '
        + '/'.join(str(p) for p in pct)
        + ' (m/s): predicted '
        + ' '.join(f'{v:.2f}' for v in np.percentile(pred_speeds or [0.0], pct))
        + ' | ground truth '
        + ' '.join(f'{v:.2f}' for v in np.percentile(gt_speeds or [0.0], pct))
    )
    print('| velocity | mAP | NDS | mAVE | ' + ' | '.join(classes) + ' |')
    print('|---' * (4 + len(classes)) + '|')
    for name, m in rows:
        print(f"| {name} | {m['mAP']:.3f} | {m['NDS']:.3f} | {m['mAVE']:.3f} | "
              + ' | '.join(f"{m[c + '_AVE']:.2f}" for c in classes) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
