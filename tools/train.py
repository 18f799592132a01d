#!/usr/bin/env python
"""Train a model from an mmengine config.

Examples:
    python tools/train.py configs/centerpoint_lidar_cpu.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --cfg-options train_cfg.max_epochs=2
    python tools/train.py CONFIG --resume            # continue from the work dir's latest
                                                     # checkpoint
    python tools/train.py CONFIG --resume work_dirs/run1/epoch_4.pth
    python tools/train.py CONFIG --amp               # fp16 on CUDA, bfloat16 autocast on CPU
    tools/dist_train.sh CONFIG 2                     # 2 processes (torchrun; gloo on CPU,
                                                     # nccl on CUDA)

Outputs go to ``--work-dir`` (default ``work_dirs/<config name>``): checkpoints
(``epoch_N.pth``, ``last_checkpoint``), and per run ``<timestamp>/`` with the log,
the config and ``vis_data/`` (scalars.json, TensorBoard events).

``--cfg-options KEY=VALUE`` overrides keys that exist in the config (a typo is an error);
``+KEY=VALUE`` (or ``--allow-new``) adds a new key.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.logging import print_log  # noqa: E402

import perception_kd  # noqa: E402
from perception_kd.engine import (  # noqa: E402
    CheckpointSaveError,
    ConfigError,
    InvalidLossError,
    add_override_args,
    build_runner,
    check_cfg_options,
    checkpoint_problem,
    config_stem,
    configure_launcher,
    enable_amp,
    explain_registry_error,
    latest_checkpoint,
    load_config,
    set_data_root,
    stale_variable_notes,
    unique_experiment_name,
)
from perception_kd.engine.preflight import preflight  # noqa: E402
from perception_kd.models.distill import TeacherCheckpointError  # noqa: E402
from perception_kd.utils.cli import ToolError, tool_errors  # noqa: E402
from perception_kd.utils.pretrained import (  # noqa: E402
    PretrainedWeightsError,
    pretrained_error_message,
)

# every dataset, transform, model, hook and metric; torch.load reads mmengine checkpoints
perception_kd.register_all_modules()

PROG = 'train.py'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='experiment config file')
    parser.add_argument('--work-dir', help='where checkpoints and logs go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='resume training (weights, optimizer, scheduler, epoch/iteration); '
                        'without CKPT: the latest checkpoint of the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 + dynamic loss scaling on CUDA, bfloat16 '
                        'autocast on CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--seed', type=int, help='random seed (randomness.seed)')
    add_override_args(parser, 'train_cfg.max_epochs=2 optim_wrapper.optimizer.lr=1e-3')
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace):
    """The config of a training run from the command line (no process group needed).

    Raises:
        FileNotFoundError: config or resume checkpoint missing.
        ConfigError: e.g. a --cfg-options key not in the config (UnknownConfigKeyError).
    """
    cfg = load_config(args.config)
    options = check_cfg_options(cfg, args.cfg_options, allow_new=args.allow_new)
    notes = stale_variable_notes(cfg, options)
    cfg.merge_from_dict(options)
    for note in notes:
        print_log(f'{PROG}: note: {note}', logger='current')
    if args.data_root:
        set_data_root(cfg, args.data_root, explicit=options)
    cfg.setdefault('default_scope', 'perception_kd')
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join('work_dirs',
                                                                    config_stem(args.config))
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    if args.amp:
        print_log(f'{PROG}: {enable_amp(cfg)}', logger='current')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ConfigError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in '
                           'the config (the schedules in configs/_base_/schedules/ have it)')
        cfg.auto_scale_lr.enable = True
    if args.resume is None and cfg.get('resume') and not cfg.get('load_from'):
        args.resume = 'auto'   # resume=True in the config: the work dir's latest checkpoint
    if args.resume is not None:
        checkpoint = args.resume
        if checkpoint == 'auto':
            # the newest readable one (a truncated one is skipped with a warning naming it);
            # last_checkpoint is resolved inside this work dir, never another run's
            checkpoint = latest_checkpoint(cfg.work_dir)
            if checkpoint is None:
                raise FileNotFoundError(
                    f'--resume: no checkpoint in {cfg.work_dir} (no last_checkpoint, epoch_*.pth '
                    'or iter_*.pth that can be read); pass --resume CKPT or --work-dir of the '
                    'run to continue, or drop --resume to train from scratch')
        elif '://' not in checkpoint:
            if not osp.isfile(checkpoint):
                raise FileNotFoundError(f'--resume: checkpoint {checkpoint} not found')
            problem = checkpoint_problem(checkpoint)
            if problem:
                raise FileNotFoundError(f'--resume: checkpoint {checkpoint} is {problem}; '
                                        'pass an older one, or --resume without a path for the '
                                        'newest readable one of the work dir')
        cfg.resume = True
        cfg.load_from = checkpoint
    elif cfg.get('load_from') and '://' not in cfg.load_from and not osp.isfile(cfg.load_from):
        raise FileNotFoundError(
            f'load_from: checkpoint {cfg.load_from} not found (the weights this config starts '
            f'from; see the header of {args.config} for the command that trains them); pass '
            'another with --cfg-options load_from=PATH.pth, or load_from=None to start from '
            'scratch')
    return cfg


@tool_errors(PROG)
def main(argv=None):
    """Train; returns the Runner (for tests and notebooks). Errors in the command line, the
    config, the data, the checkpoints or the work dir exit with status 2 and one line naming
    what is wrong (see docs/reliability.md); the start-up checks run before the Runner logs
    anything."""
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        configure_launcher(cfg, args.launcher)
        preflight(cfg, 'train')
    except (FileNotFoundError, ConfigError, RuntimeError) as exc:
        raise ToolError(str(exc)) from exc
    cfg.experiment_name = cfg.get('experiment_name') or \
        unique_experiment_name(config_stem(args.config))
    try:
        runner = build_runner(cfg)
        runner.train()
    except PretrainedWeightsError as exc:   # first run: ImageNet weights missing, no download
        raise ToolError(pretrained_error_message(exc, cfg)) from exc
    except (InvalidLossError, TeacherCheckpointError, CheckpointSaveError) as exc:
        raise ToolError(str(exc)) from exc
    except KeyError as exc:  # mmengine's unknown-type error, made readable
        message = explain_registry_error(exc, cfg)
        if message is None:
            raise
        raise ToolError(message) from exc
    return runner


if __name__ == '__main__':
    os.environ.setdefault('MPLBACKEND', 'Agg')
    main()
