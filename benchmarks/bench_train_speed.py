#!/usr/bin/env python
"""Training speed and peak memory of the CPU detector configs, side by side in one run.

    python benchmarks/bench_train_speed.py [--iters 8] [--threads 2] [--data-root data/nuscenes/]
    python benchmarks/bench_train_speed.py --device cuda [--amp] [--configs A.py B.py ...]

Each config runs in its own subprocess (so peak memory is its own): it builds the model
and the training dataset of the config, loads one batch of the config's batch size,
then times forward + backward + AdamW step on that batch (after 2 warm-up iterations).
Prints s/iter, iterations/s, the ratio to the LiDAR config and the peak resident memory.
Data loading is excluded (see bench_data_pipeline.py). On CUDA the timings synchronise
the device, peak memory is also reported as the GPU's peak allocation, and ``--amp`` runs
the step under fp16 autocast with a gradient scaler (as ``tools/train.py --amp``).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [
    'configs/centerpoint_lidar_cpu.py',
    'configs/bevdepth_cam_cpu.py',
    'configs/bevfusion_cpu.py',
]

WORKER = r'''
import json, resource, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads({threads})
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
import perception_kd
from perception_kd.registry import DATASETS, MODELS
perception_kd.register_all_modules()
init_default_scope('perception_kd')
cfg = Config.fromfile({config!r})
cfg.train_dataloader.dataset.data_root = {data_root!r}
# speed does not depend on the weights: the real configs' ImageNet file is not needed
if cfg.model.get('camera_encoder') is not None:
    cfg.model.camera_encoder.backbone.pretrained = None
dataset = DATASETS.build(cfg.train_dataloader.dataset)
batch = pseudo_collate([dataset[i] for i in range(cfg.train_dataloader.batch_size)])
torch.manual_seed(0)
device = torch.device({device!r})
model = MODELS.build(cfg.model).to(device)
model.train()
optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
scaler = torch.amp.GradScaler(device.type, enabled={amp})
def sync():
    if device.type == 'cuda':
        torch.cuda.synchronize()
times = []
for i in range({iters} + 2):
    sync()
    start = time.perf_counter()
    data = model.data_preprocessor(batch, training=True)
    with torch.autocast(device.type, dtype=torch.float16, enabled={amp}):
        losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    optim.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(optim)
    scaler.update()
    sync()
    times.append(time.perf_counter() - start)
times = sorted(times[2:])
gpu_mib = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == 'cuda' else 0.0
print(json.dumps(dict(median=times[len(times) // 2], best=times[0],
                      peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      gpu_mib=gpu_mib, params=sum(p.numel() for p in model.parameters()))))
'''


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--iters', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--data-root', default='data/nuscenes/')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast + grad scaler')
    parser.add_argument('--configs', nargs='+', default=CONFIGS,
                        help='configs to time; the first is the reference of the ratios')
    args = parser.parse_args()
    rows = []
    for config in args.configs:
        code = WORKER.format(root=ROOT, threads=args.threads, config=config, iters=args.iters,
                             data_root=args.data_root, device=args.device, amp=args.amp)
        out = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], cwd=ROOT,
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f'{config} failed:\n{out.stderr[-3000:]}')
        rows.append((config, json.loads(out.stdout.strip().splitlines()[-1])))
    base = rows[0][1]['median']
    print(f'device {args.device}{" (amp fp16)" if args.amp else ""}, torch threads {args.threads}, '
          f'{args.iters} timed iterations per config, batch of the config')
    print(f'{"config":<36}{"s/iter":>8}{"iter/s":>8}{"vs first":>10}{"peak MiB":>10}'
          f'{"GPU MiB":>9}{"params":>10}')
    for config, r in rows:
        print(f'{config:<36}{r["median"]:>8.3f}{1 / r["median"]:>8.2f}{r["median"] / base:>9.2f}x'
              f'{r["peak_mib"]:>10.0f}{r["gpu_mib"]:>9.0f}{r["params"] / 1e6:>9.2f}M')


if __name__ == '__main__':
    main()
