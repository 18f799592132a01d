#!/usr/bin/env python
"""Check a dataset config end to end: build, load a batch, evaluate the ground truth.

1. builds the split's dataset from the config through the registry and prints its size;
2. loads one batch through the config's dataloader and prints its shapes (points,
   images, boxes);
3. feeds the ground truth of every sample of the split, as predictions with score 1,
   to the split's evaluator (``NuScenesDetMetric``) and prints mAP / NDS, which should
   be about 1.0 (lower only for classes without ground truth in the split).

Example:
    python tools/check_dataset.py configs/_base_/datasets/nuscenes_multimodal.py
    python tools/check_dataset.py CONFIG --data-root /data/nuscenes/ --split val
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mmengine  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from perception_kd.engine.config import follow_root_version  # noqa: E402
from perception_kd.utils.cli import ToolError, tool_errors  # noqa: E402

PROG = 'check_dataset.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='dataset (or full experiment) config file')
    parser.add_argument('--split', default='val', choices=['train', 'val', 'test'],
                        help='which <split>_dataloader / <split>_evaluator to check')
    parser.add_argument('--data-root', help='override data_root of the dataset and evaluator')
    parser.add_argument('--no-eval', action='store_true', help='skip the evaluation step')
    parser.add_argument('--num-workers', type=int, help='override the dataloader workers')
    parser.add_argument('--min-map', type=float,
                        help='fail (exit 1) if the ground truth scores a lower mAP')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. val_dataloader.batch_size=2')
    return parser.parse_args(argv)


def describe(value, indent: str = '    ') -> list:
    """Lines describing a (nested) batch: tensor shapes and dtypes, list lengths."""
    if hasattr(value, 'shape') and hasattr(value, 'dtype'):
        return [f'{tuple(value.shape)} {str(value.dtype).replace("torch.", "")}']
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            sub = describe(item, indent + '  ')
            lines.append(f'{indent}{key}: {sub[0].strip()}')
            lines.extend(sub[1:])
        return lines or ['{}']
    if isinstance(value, (list, tuple)):
        if not value:
            return ['[]']
        first = describe(value[0], indent)
        same = all(describe(item, indent) == first for item in value[1:])
        head = f'{len(value)} x {first[0].strip()}' if same else \
            '[' + ', '.join(describe(item, indent)[0].strip() for item in value) + ']'
        return [head] + (first[1:] if same else [])
    return [type(value).__name__]


def split_config(cfg: Config, split: str, data_root: str = None):
    """The split's dataloader and evaluator configs (with data_root overridden)."""
    loader_cfg = cfg.get(f'{split}_dataloader')
    if loader_cfg is None:
        raise ToolError(f'{cfg.filename} has no {split}_dataloader; pass a dataset or '
                        'experiment config, or another --split')
    loader_cfg = loader_cfg.copy()
    evaluator_cfg = cfg.get(f'{split}_evaluator')
    if data_root is not None:
        data_root = data_root if data_root.endswith('/') else data_root + '/'
        loader_cfg.dataset.data_root = data_root
        metrics = evaluator_cfg if isinstance(evaluator_cfg, list) else [evaluator_cfg]
        for metric in metrics:
            if isinstance(metric, dict) and 'data_root' in metric:
                old = metric['data_root']
                metric['data_root'] = data_root
                follow_root_version(metric, data_root)    # a trainval root, a mini config
                ann = metric.get('ann_file')
                if isinstance(ann, str) and isinstance(old, str) and old and ann.startswith(old):
                    metric['ann_file'] = data_root + ann[len(old):]
    return loader_cfg, evaluator_cfg


def gt_samples(ann_file: str):
    """Ground truth of every sample of an info file as predictions (labels: the file's classes)."""
    from perception_kd.evaluation import (
        NUSCENES_DETECTION_CLASSES,
        classes_from_metainfo,
        gt_to_predictions,
    )
    infos = mmengine.load(ann_file)
    classes = classes_from_metainfo(infos.get('metainfo', {})) or list(NUSCENES_DETECTION_CLASSES)
    samples = [dict(token=info['token'], pred_instances_3d=gt_to_predictions(info).to_dict())
               for info in infos['data_list']]
    return samples, classes


def main(argv=None):
    args = parse_args(argv)
    # a missing config or info file, a split without dataloader or evaluator: one line, exit
    # 2; the ground truth scoring under --min-map stays exit 1 (the check found a problem)
    with tool_errors(PROG, expected=(FileNotFoundError, KeyError, ValueError)):
        return _main(args)


def _main(args):
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner

    import perception_kd
    from perception_kd.evaluation import NuScenesDetMetric
    from perception_kd.registry import DATASETS
    perception_kd.register_all_modules()   # datasets, transforms, metrics

    if not os.path.isfile(args.config):
        raise ToolError(f'config file {args.config} not found')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'perception_kd'))
    loader_cfg, evaluator_cfg = split_config(cfg, args.split, args.data_root)
    if args.num_workers is not None:
        loader_cfg.num_workers = args.num_workers
        if args.num_workers == 0:
            loader_cfg.persistent_workers = False

    start = time.time()
    dataset = DATASETS.build(loader_cfg.dataset)
    print(f'[1/3] {type(dataset).__name__} ({args.split}): {len(dataset)} samples from '
          f'{dataset.ann_file}; classes {list(dataset.metainfo.get("classes", []))} '
          f'({time.time() - start:.1f} s)')
    if len(dataset) == 0:
        raise ToolError(f'the {args.split} split of {dataset.ann_file} is empty (no sample)')

    start = time.time()
    loader_cfg.dataset = dataset
    loader = Runner.build_dataloader(loader_cfg)
    batch = next(iter(loader))
    print(f'[2/3] one batch ({time.time() - start:.1f} s):')
    print('  inputs:')
    for line in describe(batch['inputs']):
        print(line)
    for i, sample in enumerate(batch['data_samples']):
        if hasattr(sample, 'gt_instances_3d'):  # packed by the pipeline (training)
            boxes, labels, where = (sample.gt_instances_3d.bboxes_3d,
                                    sample.gt_instances_3d.labels_3d, 'packed')
        else:  # test pipelines pack no ground truth: show the dataset's annotations
            ann = dataset.get_data_info(int(sample.metainfo['sample_idx']))['ann_info']
            boxes, labels, where = ann['gt_bboxes_3d'], ann['gt_labels_3d'], 'from the infos'
        print(f'  sample {i}: token {sample.metainfo.get("token")}; gt boxes '
              f'{tuple(boxes.shape)} {where}, labels {sorted(set(labels.tolist()))}')

    if args.no_eval:
        return
    if evaluator_cfg is None:
        raise ToolError(f'{args.config} has no {args.split}_evaluator; use --no-eval')
    start = time.time()
    evaluator = Evaluator(evaluator_cfg)
    gt_preds, classes = gt_samples(dataset.ann_file)
    for metric in evaluator.metrics:
        if isinstance(metric, NuScenesDetMetric):
            metric.classes = classes  # ground-truth labels index the info file's classes
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process(data_samples=gt_preds)
    results = evaluator.evaluate(len(gt_preds))
    print(f'[3/3] ground truth as predictions, {len(gt_preds)} samples '
          f'({time.time() - start:.1f} s):')
    keys = [k for k in results if k.split('/')[-1] in ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE',
                                                        'mAVE', 'mAAE')]
    for key in keys:
        print(f'  {key}: {results[key]:.4f}')
    aps = {k.split('/')[-1][:-3]: v for k, v in results.items() if k.endswith('_AP')}
    print('  per-class AP: ' + ', '.join(f'{name} {ap:.3f}' for name, ap in aps.items()))
    map_keys = [k for k in results if k.endswith('/mAP')]
    if args.min_map is not None and map_keys and results[map_keys[0]] < args.min_map:
        sys.exit(f'check_dataset: FAILED: ground truth as predictions scores mAP '
                 f'{results[map_keys[0]]:.4f} < {args.min_map}; poses, boxes or the info '
                 'file do not agree with the tables')
    print('check_dataset: OK')


if __name__ == '__main__':
    main()
