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
import os
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


def evaluate(nusc, results: dict, eval_set: str, eval_config: str) -> dict:
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.detection.evaluate import DetectionEval
    with tempfile.TemporaryDirectory(prefix='velocity_check_') as tmp:
        path = osp.join(tmp, 'results.json')
        with open(path, 'w') as f:
            json.dump(results, f)
        evaluator = DetectionEval(nusc, config=config_factory(eval_config), result_path=path,
                                  eval_set=eval_set, output_dir=tmp, verbose=False)
        metrics, _ = evaluator.evaluate()
    return metrics.serialize()


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.results):
        sys.exit(f'results file {args.results} not found; write one with '
                 '`python tools/test.py CONFIG CHECKPOINT`')
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.splits import create_splits_scenes

    from perception_kd.evaluation.nuscenes_metric import default_eval_set
    eval_set = args.eval_set or default_eval_set(args.version)
    with open(args.results) as f:
        results = json.load(f)
    if not isinstance(results, dict) or not isinstance(results.get('results'), dict):
        sys.exit(f'{args.results} is not a nuScenes results file (a dict with "results")')
    nusc = NuScenes(version=args.version, dataroot=args.data_root, verbose=False)

    zero = copy.deepcopy(results)
    pred_speeds = []
    for boxes in zero['results'].values():
        for box in boxes:
            pred_speeds.append(float(np.hypot(*box['velocity'][:2])))
            box['velocity'] = [0.0, 0.0]
    scenes = set(create_splits_scenes().get(eval_set, []))
    gt_speeds = []
    for sample in nusc.sample:
        if scenes and nusc.get('scene', sample['scene_token'])['name'] not in scenes:
            continue
        for ann_token in sample['anns']:
            speed = np.hypot(*nusc.box_velocity(ann_token)[:2])
            if np.isfinite(speed):
                gt_speeds.append(float(speed))

    pct = (50, 75, 90, 99)
    print(f'results: {args.results} ({len(pred_speeds)} boxes), split {eval_set}')
    print('speed percentiles ' + '/'.join(str(p) for p in pct) + ' (m/s): predicted '
          + ' '.join(f'{v:.2f}' for v in np.percentile(pred_speeds or [0.0], pct))
          + ' | ground truth ' + ' '.join(f'{v:.2f}' for v in np.percentile(gt_speeds or [0.0], pct)))
    rows = []
    for name, res in (('as predicted', results), ('velocity = 0', zero)):
        s = evaluate(nusc, res, eval_set, args.eval_config)
        per_class = {k: v['vel_err'] for k, v in s['label_tp_errors'].items()
                     if np.isfinite(v['vel_err'])}
        rows.append((name, s['mean_ap'], s['nd_score'], s['tp_errors']['vel_err'], per_class))
    classes = list(rows[0][4])
    print('| velocity | mAP | NDS | mAVE | ' + ' | '.join(classes) + ' |')
    print('|---' * (4 + len(classes)) + '|')
    for name, m_ap, nds, mave, per_class in rows:
        print(f'| {name} | {m_ap:.3f} | {nds:.3f} | {mave:.3f} | '
              + ' | '.join(f'{per_class.get(c, float("nan")):.2f}' for c in classes) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
