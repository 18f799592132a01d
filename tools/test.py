#!/usr/bin/env python
r"""Evaluate a checkpoint on the config's test split and print the metrics.

Examples:
    python tools/test.py configs/centerpoint_lidar_cpu.py \
        work_dirs/centerpoint_lidar_cpu/epoch_12.pth
    python tools/test.py CONFIG CKPT --out-json results/ --data-root /data/nuscenes/

Before testing, the checkpoint's keys and shapes are compared with the model built from
the config; any difference is an error listing the keys (mmengine would only warn and
evaluate partly random weights).

Outputs: the metrics are printed and written to ``<out>/metrics.json``; metrics that write
results (``NuScenesDetMetric``: ``results_nusc.json``, ``metrics_summary.json``) keep them
in ``<out>`` = ``--out-json`` (default ``<work_dir>/results_<checkpoint name>``).
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.dist import get_dist_info  # noqa: E402
from mmengine.logging import print_log  # noqa: E402

import perception_kd  # noqa: E402
from perception_kd.engine import (  # noqa: E402
    CheckpointMismatchError,
    ConfigError,
    add_override_args,
    build_runner,
    check_cfg_options,
    check_checkpoint_matches,
    config_stem,
    configure_launcher,
    explain_registry_error,
    load_checkpoint_file,
    load_config,
    set_data_root,
    set_jsonfile_prefix,
    stale_variable_notes,
    unique_experiment_name,
)
from perception_kd.engine.preflight import preflight  # noqa: E402
from perception_kd.utils.cli import ToolError, tool_errors  # noqa: E402
from perception_kd.utils.pretrained import (  # noqa: E402
    PretrainedWeightsError,
    pretrained_error_message,
)

# every dataset, transform, model, hook and metric; torch.load reads mmengine checkpoints
perception_kd.register_all_modules()

PROG = 'test.py'
_TEST_KEYS = ('test_dataloader', 'test_evaluator', 'test_cfg')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='experiment config file')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--work-dir', help='where the log goes (default: work_dirs/<config name>)')
    parser.add_argument('--out-json', metavar='DIR',
                        help='directory for the results JSON and metrics (default: '
                        '<work_dir>/results_<checkpoint name>)')
    add_override_args(parser, 'test_dataloader.batch_size=2')
    parser.add_argument('--show-dir', metavar='DIR',
                        help='save pictures (BEV, chase view, camera mosaic) of the first '
                        '--show-num test samples in DIR')
    parser.add_argument('--show-num', type=int, default=8, help='how many samples --show-dir draws')
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace):
    """The config of a test run from the command line, and the output directory.

    Raises:
        FileNotFoundError: config or checkpoint missing.
        ConfigError: a --cfg-options key not in the config, no test split in the config.
    """
    cfg = load_config(args.config)
    options = check_cfg_options(cfg, args.cfg_options, allow_new=args.allow_new)
    notes = stale_variable_notes(cfg, options)
    cfg.merge_from_dict(options)
    for note in notes:
        print_log(f'{PROG}: note: {note}', logger='current')
    missing = [key for key in _TEST_KEYS if cfg.get(key) is None]
    if missing:
        raise ConfigError(f'{args.config} has no {", ".join(missing)}; testing needs '
                          f'{", ".join(_TEST_KEYS)} (e.g. test_dataloader = val_dataloader)')
    if args.data_root:
        set_data_root(cfg, args.data_root, explicit=options)
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} not found')
    cfg.setdefault('default_scope', 'perception_kd')
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join('work_dirs',
                                                                    config_stem(args.config))
    cfg.load_from = args.checkpoint
    cfg.resume = False
    out_dir = args.out_json or osp.join(cfg.work_dir, f'results_{config_stem(args.checkpoint)}')
    set_jsonfile_prefix(cfg, 'test_evaluator', out_dir)
    if args.show_dir:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(
            type='Det3DVisualizationHook', out_dir=args.show_dir, num_samples=args.show_num)]
    return cfg, out_dir


def format_metrics(metrics: dict) -> str:
    """One ``name: value`` line per metric."""
    width = max((len(name) for name in metrics), default=0)
    return '\n'.join(f'{name:<{width}}  {value:.4f}' if isinstance(value, float)
                     else f'{name:<{width}}  {value}' for name, value in metrics.items())


@tool_errors(PROG)
def main(argv=None) -> dict:
    """Test; returns the metrics dict. Command-line, config, data and checkpoint problems
    exit with status 2 and one line naming what is wrong (see docs/reliability.md)."""
    args = parse_args(argv)
    try:
        cfg, out_dir = build_config(args)
        configure_launcher(cfg, args.launcher)
        preflight(cfg, 'test')
    except (FileNotFoundError, ConfigError, RuntimeError) as exc:
        raise ToolError(str(exc)) from exc
    cfg.experiment_name = cfg.get('experiment_name') or \
        unique_experiment_name(f'test_{config_stem(args.config)}')
    try:
        runner = build_runner(cfg)
        # mmengine would load a mismatching checkpoint with a warning only: check first
        check_checkpoint_matches(runner.model, args.checkpoint,
                                 checkpoint=load_checkpoint_file(args.checkpoint))
        metrics = runner.test()
    except CheckpointMismatchError as exc:
        raise ToolError(str(exc)) from exc
    except PretrainedWeightsError as exc:
        raise ToolError(pretrained_error_message(exc, cfg)) from exc
    except KeyError as exc:  # mmengine's unknown-type error, made readable
        message = explain_registry_error(exc, cfg)
        if message is None:
            raise
        raise ToolError(message) from exc
    metrics = {name: (float(value) if hasattr(value, '__float__') else value)
               for name, value in (metrics or {}).items()}
    rank, _ = get_dist_info()
    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, metrics=metrics), f,
                      indent=2)
        print(format_metrics(metrics))
        print(f'{PROG}: metrics and results in {out_dir}')
    return metrics


if __name__ == '__main__':
    os.environ.setdefault('MPLBACKEND', 'Agg')
    main()
