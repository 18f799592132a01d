#!/usr/bin/env python
"""LiMA ablation table: pretraining variants x downstream protocols x seeds, one command.

    python tools/lima_table.py                               # every variant, 2 seeds
    python tools/lima_table.py --variants random base full --protocols linear ft1 --seeds 0
    python tools/lima_table.py --jobs 2 --threads 1          # two runs at a time
    python tools/lima_table.py --dry-run                     # print the commands only

Variants (cumulative, as in LiMA's ablation): ``random`` (no pretraining), ``base``
(single-frame, single-view superpixel InfoNCE: SLidR/SuperFlow's base), ``cv`` (+ cross-view
aggregation), ``mem1`` / ``mem3`` / ``mem6`` (+ memory of k keyframes), ``full`` (+
cross-sequence alignment, k = 6). Protocols: ``linear`` (frozen backbone + linear head,
100 % labels), ``ft1`` / ``ft10`` / ``ft100`` (fine-tuning on 1 / 10 / 100 % of the training
scans; the same scans for every variant: ``subset_seed`` = 0).

Every run is ``tools/train.py`` in its own work dir under ``--work-dir``; a finished run
leaves ``result.json`` there and is skipped next time (resumable: kill and re-run). The
table (mean and standard deviation over seeds, each seed's value) goes to
``<work-dir>/table.md`` and ``table.json``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from perception_kd.utils.cli import ToolError, tool_errors  # noqa: E402

PROG = 'lima_table.py'


def _variant(cross_view: bool, frames: int, cross_sequence: bool) -> list:
    return [f'model.cross_view.enabled={cross_view}', f'model.memory.num_frames={frames}',
            f'model.cross_sequence.enabled={cross_sequence}']


VARIANTS = {
    'random': None,
    'base': _variant(False, 0, False),
    'cv': _variant(True, 0, False),
    'mem1': _variant(True, 1, False),
    'mem3': _variant(True, 3, False),
    'mem6': _variant(True, 6, False),
    'full': _variant(True, 6, True),
}
PROTOCOLS = {'linear': ('linear', 1.0), 'ft1': ('finetune', 0.01), 'ft10': ('finetune', 0.1),
             'ft100': ('finetune', 1.0)}
METRIC = 'lidarseg/mIoU'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/lima_table')
    parser.add_argument('--data-root', default=None, help='dataset root (default: the configs\')')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--protocols', nargs='+', default=['linear', 'ft1', 'ft10'],
                        choices=list(PROTOCOLS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1])
    parser.add_argument('--pretrain-config', default='configs/lima_pretrain_cpu.py')
    parser.add_argument('--linear-config', default='configs/lima_lidarseg_linear_cpu.py')
    parser.add_argument('--finetune-config', default='configs/lima_lidarseg_finetune_cpu.py')
    parser.add_argument('--pretrain-options', nargs='*', default=[],
                        help='extra --cfg-options for every pretraining run')
    parser.add_argument('--downstream-options', nargs='*', default=[],
                        help='extra --cfg-options for every downstream run')
    parser.add_argument('--jobs', type=int, default=1, help='runs in parallel')
    parser.add_argument('--threads', type=int, default=2, help='OMP threads per run')
    parser.add_argument('--dry-run', action='store_true')
    return parser.parse_args(argv)


def final_metric(work_dir: str, key: str = METRIC) -> float:
    """The last validation value of ``key`` in the newest run's scalars.json."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')),
                   key=osp.getmtime)
    for path in reversed(files):
        found = None
        with open(path) as file:
            for line in file:
                record = json.loads(line)
                if key in record:
                    found = record[key]
        if found is not None:
            return float(found)
    raise RuntimeError(f'no {key} in the logs under {work_dir}; did the run finish?')


def checkpoint_of(work_dir: str) -> str:
    """The newest readable checkpoint of a finished run (the project's own rule)."""
    from perception_kd.utils.checkpoint import latest_checkpoint
    found = latest_checkpoint(work_dir)
    if found is None:
        raise RuntimeError(f'no checkpoint in {work_dir}')
    return found


class Runner:
    """Runs tools/train.py jobs, skipping finished ones."""

    def __init__(self, args):
        self.args = args
        self.log = []

    def train(self, config: str, work_dir: str, seed: int, options: list,
              result_fn) -> dict | None:
        done = osp.join(work_dir, 'result.json')
        if osp.isfile(done):
            with open(done) as file:
                return json.load(file)
        cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), config, '--work-dir', work_dir,
               '--seed', str(seed)]
        if self.args.data_root:
            cmd += ['--data-root', self.args.data_root]
        if options:
            cmd += ['--cfg-options', *options]
        printable = ' '.join(cmd[1:])
        if self.args.dry_run:
            print(printable)
            return None
        os.makedirs(work_dir, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(self.args.threads))
        start = time.time()
        print(f'[lima_table] start {work_dir}', flush=True)
        with open(osp.join(work_dir, 'train.out'), 'w') as out:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        if proc.returncode:
            tail = open(osp.join(work_dir, 'train.out')).read().splitlines()[-15:]
            raise RuntimeError(f'run failed ({proc.returncode}): {printable}\n' + '\n'.join(tail))
        result = dict(result_fn(work_dir), seconds=round(time.time() - start, 1),
                      command=printable)
        tmp = done + '.tmp'
        with open(tmp, 'w') as file:
            json.dump(result, file, indent=1)
        os.replace(tmp, done)
        print(f'[lima_table] done  {work_dir}: {result}', flush=True)
        return result


def check_setup(args) -> None:
    """The configs the chosen variants and protocols train, the data root, the work dir:
    before any run starts (a failed run is reported with its log, not here)."""
    configs = {'--finetune-config' if PROTOCOLS[p][0] == 'finetune' else '--linear-config':
               args.finetune_config if PROTOCOLS[p][0] == 'finetune' else args.linear_config
               for p in args.protocols}
    if any(v != 'random' for v in args.variants):
        configs['--pretrain-config'] = args.pretrain_config
    for option, config in configs.items():
        # tools/train.py runs in the repository: a relative config is read from there
        if not osp.isfile(osp.join(ROOT, config)):
            raise ToolError(f'config file {config} not found ({option})')
    if args.data_root and not osp.isdir(osp.join(ROOT, args.data_root)):
        raise ToolError(f'data root {args.data_root} does not exist (--data-root; a relative '
                        'path is read from the repository, where the runs start)')
    work = osp.abspath(args.work_dir)
    if osp.exists(work) and not osp.isdir(work):
        raise ToolError(f'work dir {work} is a file, not a folder (--work-dir)')


def main(argv=None) -> int:
    args = parse_args(argv)
    with tool_errors(PROG):
        check_setup(args)
    runner = Runner(args)
    work = osp.abspath(args.work_dir)

    def pretrain(variant: str, seed: int):
        wd = osp.join(work, 'pretrain', f'{variant}_s{seed}')
        opts = [*VARIANTS[variant], *args.pretrain_options]
        return runner.train(args.pretrain_config, wd, seed, opts,
                            lambda d: dict(checkpoint=checkpoint_of(d)))

    def downstream(variant: str, protocol: str, seed: int):
        kind, fraction = PROTOCOLS[protocol]
        config = args.linear_config if kind == 'linear' else args.finetune_config
        opts = list(args.downstream_options)
        if kind == 'finetune':
            opts.append(f'train_dataloader.dataset.scan_fraction={fraction}')
        if variant == 'random':
            opts.append('model.init_backbone.checkpoint=None')
        else:
            pre = pretrain(variant, seed)
            if pre is None:                       # dry run
                ckpt = osp.join(work, 'pretrain', f'{variant}_s{seed}', 'CHECKPOINT')
            else:
                ckpt = pre['checkpoint']
            opts.append(f'model.init_backbone.checkpoint={ckpt}')
        wd = osp.join(work, protocol, f'{variant}_s{seed}')
        return runner.train(config, wd, seed, opts, lambda d: dict(mIoU=final_metric(d)))

    # pretraining first (in parallel), then every downstream run
    pre_jobs = [(v, s) for v in args.variants if v != 'random' for s in args.seeds]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(lambda job: pretrain(*job), pre_jobs))
        down_jobs = [(v, p, s) for p in args.protocols for v in args.variants for s in args.seeds]
        results = list(pool.map(lambda job: downstream(*job), down_jobs))
    if args.dry_run:
        return 0
    table = {}
    for (variant, protocol, seed), result in zip(down_jobs, results):
        table.setdefault(variant, {}).setdefault(protocol, {})[seed] = result['mIoU']
    write_table(table, args, work)
    return 0


def write_table(table: dict, args, work: str) -> None:
    lines = [f'mIoU (%) on the validation split, mean +- std over seeds {args.seeds}; '
             f'pretraining: {args.pretrain_config}', '',
             '| variant | ' + ' | '.join(args.protocols) + ' |',
             '|---|' + '---|' * len(args.protocols)]
    for variant in args.variants:
        cells = []
        for protocol in args.protocols:
            values = np.array(list(table[variant][protocol].values())) * 100
            std = f' +- {values.std(ddof=1):.1f}' if len(values) > 1 else ''
            each = ', '.join(f'{v:.1f}' for v in values)
            cells.append(f'{values.mean():.1f}{std} ({each})')
        lines.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
    text = '\n'.join(lines) + '\n'
    print(text)
    with open(osp.join(work, 'table.md'), 'w') as file:
        file.write(text)
    with open(osp.join(work, 'table.json'), 'w') as file:
        json.dump(table, file, indent=1)


if __name__ == '__main__':
    sys.exit(main())
