"""Do a LiDAR detector's BEV features carry velocity? A ridge probe on frozen features.

The motion issue's diagnostic for a detector whose velocity head predicts ~0: if a linear
map fitted on the frozen ``bev_high`` features (the head's input) at the training boxes'
centre cells predicts the velocities of the *validation* boxes well, the features carry the
motion and what fails is the head's training; if the probe cannot beat zero either, the
features do not carry it.

For each split the samples go through the training pipeline with the BEV augmentation
switched off (boxes and points in the keyframe LiDAR frame), the model runs in eval mode,
and at each box's centre cell the script gathers the features (the cell alone, and its 3x3
neighbourhood) and the head's own velocity output. It fits ridge regressions on the train
split and reports, on the val split, the mean L2 velocity error (m/s) of: zero, the head,
the probe on the cell, the probe on the 3x3 neighbourhood; over all boxes of classes with a
velocity and over moving ones (> 1 m/s).

    python benchmarks/velocity_probe.py configs/centerpoint_lidar_cpu.py \\
        work_dirs/centerpoint_lidar_cpu/epoch_12.pth
"""
from __future__ import annotations

import argparse
import copy
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

STATIC = ('barrier', 'traffic_cone')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--max-samples', type=int, default=None,
                        help='per split (default: all)')
    parser.add_argument('--ridge', type=float, default=1e-3,
                        help='ridge strength, relative to the mean feature variance')
    return parser.parse_args(argv)


def no_augmentation(pipeline: list) -> list:
    steps = []
    for step in copy.deepcopy(list(pipeline)):
        if step['type'] == 'BEVAugmentation':
            step.update(rot_range=[0.0, 0.0], scale_range=[1.0, 1.0], flip_x_prob=0.0,
                        flip_y_prob=0.0, translation_std=0.0)
        steps.append(step)
    return steps


def gather(model, dataset, max_samples):
    """(cell features (N, C), 3x3 features (N, 9C), head velocity (N, 2), GT velocity (N, 2),
    class names (N,)) at the centre cells of every box of the split."""
    import torch
    from mmengine.dataset import pseudo_collate
    from tqdm import tqdm

    head = model.head
    task_of = {label: t for t, labels in enumerate(head.task_labels) for label in labels}
    classes = dataset.metainfo['classes']
    cells, hoods, head_vel, gt_vel, names = [], [], [], [], []
    count = len(dataset) if max_samples is None else min(max_samples, len(dataset))
    for idx in tqdm(range(count), desc=osp.basename(dataset.ann_file), unit='sample'):
        batch = model.data_preprocessor(pseudo_collate([dataset[idx]]), False)
        with torch.no_grad():
            feats = model.extract_feats(batch['inputs'], batch['data_samples'])
        gt = batch['data_samples'][0].gt_instances_3d
        boxes = gt.bboxes_3d
        boxes = torch.as_tensor(boxes.tensor if hasattr(boxes, 'tensor') else boxes).float()
        labels = torch.as_tensor(gt.labels_3d).long()
        if len(boxes) == 0:
            continue
        u, v = head.grid.metres_to_cells(boxes[:, 0], boxes[:, 1])
        cols, rows = u.floor().long(), v.floor().long()
        height, width = feats.bev_high.shape[-2:]
        inside = (cols >= 1) & (rows >= 1) & (cols < width - 1) & (rows < height - 1)
        fmap = feats.bev_high[0]
        for j in torch.nonzero(inside).flatten().tolist():
            r, c = int(rows[j]), int(cols[j])
            cells.append(fmap[:, r, c].numpy())
            hoods.append(fmap[:, r - 1:r + 2, c - 1:c + 2].reshape(-1).numpy())
            label = int(labels[j])
            head_vel.append(feats.responses[task_of[label]]['vel'][0, :, r, c].numpy())
            gt_vel.append(boxes[j, 7:9].numpy())
            names.append(classes[label])
    return (np.asarray(cells), np.asarray(hoods), np.asarray(head_vel), np.asarray(gt_vel),
            np.asarray(names))


def ridge_fit(x: np.ndarray, y: np.ndarray, strength: float):
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], 1)
    reg = strength * len(x) * np.eye(xs.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(xs.T @ xs + reg, xs.T @ y)
    return lambda z: np.concatenate([(z - mean) / std, np.ones((len(z), 1))], 1) @ w


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.config import Config

    import perception_kd
    from perception_kd.registry import DATASETS, MODELS
    from perception_kd.utils.checkpoint import checkpoint_state_dict, load_checkpoint_file

    perception_kd.register_all_modules()
    torch.set_grad_enabled(False)
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    model.load_state_dict(checkpoint_state_dict(load_checkpoint_file(args.checkpoint)))
    model.eval()
    data = {}
    for split in ('train', 'val'):
        ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
        ds_cfg.pipeline = no_augmentation(ds_cfg.pipeline)
        ds_cfg.ann_file = f'nuscenes_infos_{split}.pkl'
        ds_cfg.filter_empty_gt = False
        if args.data_root:
            ds_cfg.data_root = args.data_root
        data[split] = gather(model, DATASETS.build(ds_cfg), args.max_samples)

    cell_tr, hood_tr, _, y_tr, names_tr = data['train']
    cell_va, hood_va, head_va, y_va, names_va = data['val']
    keep_tr = ~np.isin(names_tr, STATIC) & np.isfinite(y_tr).all(1)
    keep_va = ~np.isin(names_va, STATIC) & np.isfinite(y_va).all(1)
    preds = {'zero': np.zeros_like(y_va), 'head (trained)': head_va}
    for name, x_tr, x_va in (('probe, centre cell', cell_tr, cell_va),
                             ('probe, 3x3 cells', hood_tr, hood_va)):
        preds[name] = ridge_fit(x_tr[keep_tr], y_tr[keep_tr], args.ridge)(x_va)
    train_fit = ridge_fit(hood_tr[keep_tr], y_tr[keep_tr], args.ridge)(hood_tr[keep_tr])
    speed = np.linalg.norm(y_va, axis=1)
    moving = keep_va & (speed > 1.0)
    print(f'boxes: train {int(keep_tr.sum())}, val {int(keep_va.sum())} '
          f'({int(moving.sum())} moving > 1 m/s); features {cell_tr.shape[1]}')
    print('| predictor | L2 velocity error, val (m/s) | moving only |')
    print('|---|---|---|')
    for name, pred in preds.items():
        err = np.linalg.norm(pred - y_va, axis=1)
        print(f'| {name} | {err[keep_va].mean():.3f} | {err[moving].mean():.3f} |')
    fit_err = np.linalg.norm(train_fit - y_tr[keep_tr], axis=1).mean()
    zero_err = np.linalg.norm(y_tr[keep_tr], axis=1).mean()
    print(f'probe 3x3 on its own training boxes: {fit_err:.3f} (zero: {zero_err:.3f})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
