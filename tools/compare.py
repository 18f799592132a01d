#!/usr/bin/env python
"""Compare two training setups over several seeds: paired table with a t-interval.

Examples:
    # two configs (camera student alone vs distilled), 6-epoch cut of their schedule
    python tools/compare.py configs/bevdepth_cam_cpu.py configs/unidistill_lidar2cam_cpu.py \\
        --names alone distilled --work-dir work_dirs/cmp_e6 --seeds 0 1 2 --epochs 6 \\
        --procs 2 --threads 1
    # one config, two option sets (an ablation arm against the full loss)
    python tools/compare.py configs/unidistill_lidar2cam_cpu.py --names full fea \\
        --b-options model.distill_losses.loss_distill_rel.weight=0 \\
        model.distill_losses.loss_distill_resp.weight=0 --work-dir work_dirs/cmp_e6 --epochs 6
    # the table again from what is on disk (trains nothing)
    python tools/compare.py CONFIG_A CONFIG_B --names alone distilled \\
        --work-dir work_dirs/cmp_e6 --epochs 6 --report-only

Every (arm, seed) trains through ``tools/train.py CONFIG --work-dir DIR/<arm>/seed<k>
--seed k --cfg-options ...`` in a subprocess (``--procs`` at once, ``OMP_NUM_THREADS`` =
``--threads`` each; output in ``DIR/<arm>/seed<k>/train.log``). A run whose validation at
the end of the schedule is logged is skipped; a run with a checkpoint resumes
(``--resume``). The metrics are those of that final validation (the config's val
evaluator: the devkit's mAP, NDS and TP errors). Seeds where both arms finished are paired:
per-seed differences B - A, their mean and its t-interval. A failed run is reported with
its log and left out, with its pair. Output: printed, and
``DIR/compare_<A>_vs_<B>.{md,json,png}``. See docs/compare.md.
"""
import argparse
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from perception_kd.compare import (  # noqa: E402
    METRICS,
    SKIP,
    Arm,
    CompareError,
    build_report,
    execute,
    format_markdown,
    plan_runs,
    plot_report,
    report_paths,
)
from perception_kd.compare.runs import METRIC_PREFIX, write_json_atomic  # noqa: E402
from perception_kd.utils.cli import ToolError, tool_errors  # noqa: E402

PROG = 'compare.py'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+', metavar='CONFIG',
                        help='CONFIG_A [CONFIG_B]; one config: the arms differ by '
                        '--a-options / --b-options')
    parser.add_argument('--work-dir', required=True,
                        help='runs go to WORK_DIR/<arm>/seed<k>, the report to WORK_DIR')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='one run per arm and seed (default: 0 1 2)')
    parser.add_argument('--names', nargs=2, metavar=('A', 'B'),
                        help='arm names (folders); default: the two config names')
    parser.add_argument('--epochs', type=int,
                        help="cut the configs' schedules to this many epochs (the schedulers "
                        "that ended at max_epochs end here); default: the configs' own")
    parser.add_argument('--val-interval', type=int,
                        help='validate every K epochs (curves in the PNG); default: at the end '
                        'only with --epochs, else the config\'s own')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='options of both arms (as tools/train.py reads them)')
    parser.add_argument('--a-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='options of arm A only (after --cfg-options)')
    parser.add_argument('--b-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='options of arm B only (after --cfg-options)')
    parser.add_argument('--procs', type=int, default=1, help='runs at once (default 1)')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP_NUM_THREADS of each run (default 1)')
    parser.add_argument('--data-root', help='passed to tools/train.py --data-root')
    parser.add_argument('--confidence', type=float, default=0.95,
                        help='confidence level of the interval (default 0.95)')
    parser.add_argument('--metrics', nargs='+', default=list(METRICS), metavar='NAME',
                        help='logged validation metrics to pair (default: %(default)s; mAP '
                        'and NDS higher is better, others lower)')
    parser.add_argument('--metric-prefix', default=METRIC_PREFIX,
                        help="the evaluator's prefix of the logged names (default "
                        '%(default)s)')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: the table from the runs on disk')
    parser.add_argument('--dry-run', action='store_true',
                        help='print what would be trained, resumed or skipped, and stop')
    args = parser.parse_args(argv)
    if len(args.configs) > 2:
        parser.error(f'at most two configs, got {len(args.configs)}')
    return args


def arms_of(args: argparse.Namespace) -> tuple[Arm, Arm]:
    configs = args.configs if len(args.configs) == 2 else args.configs * 2
    if len(args.configs) == 1 and not (args.a_options or args.b_options):
        raise CompareError('one config needs --a-options and/or --b-options (otherwise both '
                           'arms are the same runs)')
    if args.names:
        names = args.names
    else:
        names = [osp.splitext(osp.basename(c))[0] for c in configs]
        if names[0] == names[1]:
            raise CompareError(f'both arms would be named {names[0]!r}: pass --names A B')
    return (Arm(names[0], configs[0], tuple(args.a_options)),
            Arm(names[1], configs[1], tuple(args.b_options)))


def setup_of(args, arms) -> dict:
    if args.epochs is not None:
        every = args.val_interval or args.epochs
        schedule = f'{args.epochs} epochs (the configs\' schedulers cut to it), validation ' \
                   f'every {every}'
    else:
        schedule = "the configs' own" + (f', validation every {args.val_interval}'
                                          if args.val_interval else '')
    return dict(
        a=dict(name=arms[0].name, config=arms[0].config, options=list(arms[0].options)),
        b=dict(name=arms[1].name, config=arms[1].config, options=list(arms[1].options)),
        common_options=list(args.cfg_options), schedule=schedule, epochs=args.epochs,
        val_interval=args.val_interval, seeds=list(args.seeds), work_dir=args.work_dir,
        data_root=args.data_root, procs=args.procs, threads=args.threads)


def _setup(args):
    """The arms and the plan of every run; a ToolError / CompareError for bad arguments."""
    if not 0.0 < args.confidence < 1.0:
        raise ToolError(f'--confidence must be in (0, 1), got {args.confidence}')
    if args.procs < 1 or args.threads < 1:
        raise ToolError('--procs and --threads must be at least 1')
    missing = [c for c in dict.fromkeys(args.configs) if not osp.isfile(c)]
    if missing and not args.report_only:       # --report-only reads the runs on disk only
        raise ToolError(f'config file {missing[0]} not found')
    arms = arms_of(args)
    plans = plan_runs(arms, args.seeds, args.work_dir, common_options=args.cfg_options,
                      epochs=args.epochs, val_interval=args.val_interval,
                      data_root=args.data_root, python=sys.executable,
                      train_script=osp.join(REPO, 'tools', 'train.py'),
                      test_script=osp.join(REPO, 'tools', 'test.py'),
                      prefix=args.metric_prefix)
    return arms, plans


def main(argv=None) -> dict:
    """Plan, train what is missing (unless --report-only), report; returns the report."""
    args = parse_args(argv)
    with tool_errors(PROG, expected=(CompareError, ValueError, OSError)):
        arms, plans = _setup(args)
    todo = [p for p in plans if p.action != SKIP]
    if args.dry_run or (not args.report_only and todo):
        for plan in plans:
            print(f'{PROG}: {plan.arm} seed {plan.seed}: {plan.action}'
                  + ('' if plan.action == SKIP else f': {" ".join(plan.command)}'))
    if args.dry_run:
        return {}
    if not args.report_only:
        execute(plans, procs=args.procs, threads=args.threads,
                echo=lambda line: print(line, flush=True))
    names = (arms[0].name, arms[1].name)
    report = build_report(plans, names, confidence=args.confidence,
                          setup=setup_of(args, arms), metrics=args.metrics)
    paths = report_paths(args.work_dir, names)
    text = format_markdown(report)
    os.makedirs(args.work_dir, exist_ok=True)
    write_json_atomic(paths['json'], report)
    _write_text(paths['md'], text)
    plot_report(report, paths['png'], metrics=args.metrics[:2])
    print(text)
    print(f'{PROG}: wrote {paths["md"]}, {paths["json"]}, {paths["png"]}')
    failed = [e for e in report['excluded'] if e['status'] == 'failed']
    if failed and not args.report_only:
        raise SystemExit(f'{PROG}: {len(failed)} run(s) failed (listed above, with their logs)')
    return report


def _write_text(path: str, text: str) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as file:
        file.write(text)
    os.replace(tmp, path)


if __name__ == '__main__':
    main()
