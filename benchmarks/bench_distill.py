#!/usr/bin/env python
"""Distillation overhead: a Distiller training step / the student-alone training step,
side by side in one process on the same batch.

    python benchmarks/bench_distill.py [--config configs/unidistill_lidar2cam_cpu.py]
        [--iters 8] [--threads 2] [--data-root data/nuscenes/]

The student alone is the distiller's ``student`` config; both get one batch of the
distillation config's training pipeline (both modalities). Steps alternate (student,
distiller, student, ...) after 2 warm-up steps each, so machine noise hits both alike;
the median of each and their ratio are printed. A teacher checkpoint is not needed: the
teacher gets random weights (saved to a temporary file), which does not change its cost.
Data loading is excluded.
"""
import argparse
import copy
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='configs/unidistill_lidar2cam_cpu.py')
    parser.add_argument('--iters', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--data-root', default='data/nuscenes/')
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import perception_kd
    from perception_kd.models.distill import model_cfg_from
    from perception_kd.registry import DATASETS, MODELS
    perception_kd.register_all_modules()
    init_default_scope('perception_kd')

    cfg = Config.fromfile(os.path.join(ROOT, args.config))
    cfg.train_dataloader.dataset.data_root = args.data_root
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[i] for i in range(cfg.train_dataloader.batch_size)])

    torch.manual_seed(0)
    teacher = MODELS.build(model_cfg_from(cfg.model.teacher, 'teacher'))
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, 'teacher.pth')
        torch.save(dict(state_dict=teacher.state_dict()), ckpt)
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.teacher_ckpt = ckpt
        distiller = MODELS.build(model_cfg)
    student = MODELS.build(model_cfg_from(cfg.model.student, 'student'))

    def step_fn(model):
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(params, lr=1e-4)
        model.train()

        def step():
            start = time.perf_counter()
            data = model.data_preprocessor(copy.copy(batch), training=True)
            losses = model(**data, mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            optim.zero_grad()
            loss.backward()
            optim.step()
            return time.perf_counter() - start
        return step

    steps = dict(student=step_fn(student), distiller=step_fn(distiller))
    times = dict(student=[], distiller=[])
    for i in range(args.iters + 2):
        for name, step in steps.items():
            elapsed = step()
            if i >= 2:
                times[name].append(elapsed)
    med = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    print(f'config {args.config}, torch {torch.__version__}, threads {args.threads}, '
          f'{args.iters} timed steps each, batch {cfg.train_dataloader.batch_size}')
    print(f'{"model":<12} {"median s/step":>14} {"best":>8}')
    for name, t in times.items():
        print(f'{name:<12} {med[name]:>14.3f} {min(t):>8.3f}')
    print(f'distiller / student: {med["distiller"] / med["student"]:.2f}x')


if __name__ == '__main__':
    main()
