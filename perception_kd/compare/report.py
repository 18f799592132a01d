"""The comparison report: per-seed table, arm means, paired differences with their
t-interval (Markdown, JSON) and a PNG of the differences and validation curves (no torch).

Only seeds where both arms finished are paired; a failed or unfinished run is listed with
its log and left out, with its partner, of every mean and difference.
"""
from __future__ import annotations

import math
import os
import os.path as osp

from ..utils.stats import paired_difference, sample_sd
from .plan import RunPlan
from .runs import has_checkpoint, read_status, scalar_files, validation_curve

METRICS = ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE')
HIGHER_IS_BETTER = {'mAP': True, 'NDS': True}   # the TP errors: lower is better


def run_state(plan: RunPlan) -> dict:
    """What is on disk for one planned run: ``status`` is ``finished`` (with ``metrics``),
    ``failed`` (with ``reason``), ``incomplete`` (started, not at the end) or ``not run``."""
    status = read_status(plan.run_dir) or {}
    state = dict(arm=plan.arm, seed=plan.seed, run_dir=plan.run_dir, log=plan.log,
                 status='not run', metrics=None, reason=None, wall_s=status.get('wall_s'),
                 options=list(plan.spec.get('options', [])))
    if status.get('status') == 'finished' and status.get('metrics'):
        state.update(status='finished', metrics=status['metrics'])
    elif plan.metrics is not None:
        state.update(status='finished', metrics=plan.metrics)
    elif status.get('status') == 'failed':
        state.update(status='failed', reason=status.get('reason'))
    elif status.get('status') == 'running':
        state.update(status='incomplete', reason='started at '
                     f'{status.get("started", "?")}, still running or stopped; the next '
                     'call without --report-only resumes it')
    elif has_checkpoint(plan.run_dir) or scalar_files(plan.run_dir):
        state.update(status='incomplete', reason=f'no validation at epoch {plan.final_step} '
                     'yet; the next call without --report-only resumes it')
    return state


def _value(metrics: dict | None, name: str) -> float:
    value = (metrics or {}).get(name)
    return float(value) if isinstance(value, (int, float)) else float('nan')


def build_report(plans: list[RunPlan], names: tuple[str, str], *, confidence: float = 0.95,
                 setup: dict | None = None, metrics=METRICS) -> dict:
    """The report dict (also what the JSON file holds) from the plans' runs on disk.
    ``metrics``: the names (without the evaluator's prefix) to pair; mAP and NDS are
    higher-is-better, any other name lower-is-better (the TP errors)."""
    a, b = names
    states = [run_state(plan) for plan in plans]
    by_key = {(s['arm'], s['seed']): s for s in states}
    seeds = sorted({s['seed'] for s in states})
    paired = [seed for seed in seeds
              if by_key[(a, seed)]['status'] == 'finished'
              and by_key[(b, seed)]['status'] == 'finished']
    excluded = [s for s in states if s['status'] != 'finished']
    unpaired = [s for s in states if s['status'] == 'finished' and s['seed'] not in paired]
    summary = {}
    for name in metrics:
        pairs = [(seed, _value(by_key[(a, seed)]['metrics'], name),
                  _value(by_key[(b, seed)]['metrics'], name)) for seed in paired]
        usable = [p for p in pairs if math.isfinite(p[1]) and math.isfinite(p[2])]
        stats = paired_difference([p[1] for p in usable], [p[2] for p in usable],
                                  confidence=confidence)
        summary[name] = dict(
            higher_is_better=HIGHER_IS_BETTER.get(name, False),
            seeds=[p[0] for p in usable],
            a=[p[1] for p in usable], b=[p[2] for p in usable],
            differences=[p[2] - p[1] for p in usable],
            mean_a=_mean([p[1] for p in usable]), mean_b=_mean([p[2] for p in usable]),
            sd_a=sample_sd([p[1] for p in usable]), sd_b=sample_sd([p[2] for p in usable]),
            difference=stats.to_dict(), method=stats.method)
    return dict(
        names=dict(a=a, b=b), setup=setup or {}, confidence=confidence,
        seeds=seeds, paired_seeds=paired, runs=states,
        excluded=[dict(arm=s['arm'], seed=s['seed'], status=s['status'], reason=s['reason'],
                       log=s['log']) for s in excluded],
        unpaired=[dict(arm=s['arm'], seed=s['seed']) for s in unpaired],
        metrics=summary,
        curves={f'{p.arm}/seed{p.seed}': {str(k): v for k, v in
                                          validation_curve(p.run_dir, p.prefix).items()}
                for p in plans})


def _mean(values) -> float:
    return math.fsum(values) / len(values) if values else float('nan')


def _fmt(value, signed: bool = False, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return 'n/a'
    return f'{value:+.{digits}f}' if signed else f'{value:.{digits}f}'


def interval_text(diff: dict, digits: int = 4) -> str:
    """``[low, high]`` and whether it contains 0; why there is none with fewer than 2 pairs."""
    if diff.get('low') is None or diff.get('high') is None:
        return f'n/a ({diff["n"]} pair{"" if diff["n"] == 1 else "s"}: no interval)'
    where = 'contains 0' if diff['contains_zero'] else 'excludes 0'
    return (f'[{_fmt(diff["low"], True, digits)}, {_fmt(diff["high"], True, digits)}] '
            f'({where})')


def format_markdown(report: dict) -> str:
    """The report as Markdown: setup, per-seed runs, differences, exclusions."""
    a, b = report['names']['a'], report['names']['b']
    setup = report.get('setup') or {}
    metric_names = list(report['metrics'])
    pct = f'{report["confidence"] * 100:g} %'
    lines = [f'# Comparison: {a} (A) vs {b} (B)', '']
    for key, label in (('a', 'A'), ('b', 'B')):
        arm = setup.get(key)
        if arm:
            options = ' '.join(arm.get('options') or []) or '(none)'
            lines.append(f'- {label} = `{arm["name"]}`: `{arm["config"]}`, options: `{options}`')
    if setup.get('common_options'):
        lines.append(f'- options of both arms: `{" ".join(setup["common_options"])}`')
    if setup.get('schedule'):
        lines.append(f'- schedule: {setup["schedule"]}')
    if setup.get('work_dir'):
        lines.append(f'- runs: `{setup["work_dir"]}/<arm>/seed<k>`; seeds: '
                     f'{", ".join(str(s) for s in report["seeds"])}')
    lines += ['', '## Runs', '',
              '| arm | seed | ' + ' | '.join(metric_names) + ' | wall (min) |',
              '|---|---|' + '---|' * (len(metric_names) + 1)]
    for seed in report['seeds']:
        for state in report['runs']:
            if state['seed'] != seed:
                continue
            if state['status'] == 'finished':
                cells = [_fmt(_value(state['metrics'], m)) for m in metric_names]
            else:
                cells = [state['status']] + [''] * (len(metric_names) - 1)
            wall = state.get('wall_s')
            lines.append(f'| {state["arm"]} | {seed} | ' + ' | '.join(cells)
                         + f' | {_fmt(wall / 60, digits=1) if wall else ""} |')
    paired = report['paired_seeds']
    over = f'seeds {", ".join(str(s) for s in paired)}' if paired else 'no pairs'
    for key, name in (('a', a), ('b', b)):
        lines.append(f'| **mean {name}** ({over}) | | '
                     + ' | '.join(_fmt(report['metrics'][m][f'mean_{key}'])
                                  for m in metric_names) + ' | |')
    for key, name in (('a', a), ('b', b)):     # reports written before these keys: skipped
        if all(f'sd_{key}' in report['metrics'][m] for m in metric_names):
            lines.append(f'| seed sd {name} | | '
                         + ' | '.join(_fmt(report['metrics'][m][f'sd_{key}'])
                                      for m in metric_names) + ' | |')
    lines += ['', f'## Paired differences B - A ({b} - {a})', '',
              '| seed | ' + ' | '.join(metric_names) + ' |',
              '|---|' + '---|' * len(metric_names)]
    for seed in paired:
        cells = []
        for m in metric_names:
            entry = report['metrics'][m]
            cells.append(_fmt(entry['differences'][entry['seeds'].index(seed)], True)
                         if seed in entry['seeds'] else 'n/a')
        lines.append(f'| {seed} | ' + ' | '.join(cells) + ' |')
    lines += ['', f'| metric | mean A | mean B | mean B - A | sd | se | t | {pct} interval '
              '| better |',
              '|---|---|---|---|---|---|---|---|---|']
    for m in metric_names:
        entry = report['metrics'][m]
        diff = entry['difference']
        lines.append(
            f'| {m} | {_fmt(entry["mean_a"])} | {_fmt(entry["mean_b"])} | '
            f'{_fmt(diff["mean"], True)} | {_fmt(diff["sd"])} | {_fmt(diff["se"])} | '
            f'{_fmt(diff["t"], digits=3)} | {interval_text(diff)} | '
            f'{"higher" if entry["higher_is_better"] else "lower"} |')
    counts = sorted({entry['difference']['n'] for entry in report['metrics'].values()})
    n_text = ' or '.join(str(n) for n in counts) if counts else '0'
    lines += ['', f'Interval: {pct} t-interval on {n_text} paired differences (per seed, '
              f'B - A): mean +- t * sd / sqrt(n), t the {(1 + report["confidence"]) / 2:g} '
              'quantile of Student t with n - 1 degrees of freedom. An interval that contains '
              '0 does not tell the arms apart at this level.']
    if any(entry['difference']['n'] != len(paired) for entry in report['metrics'].values()):
        lines.append('A metric with fewer pairs than paired seeds had no value in some runs '
                     '(n/a above); those pairs are left out of that metric only.')
    if report['excluded']:
        lines += ['', '## Left out', '']
        for item in report['excluded']:
            reason = f': {item["reason"]}' if item.get('reason') else ''
            lines.append(f'- {item["arm"]} seed {item["seed"]}: **{item["status"]}**{reason} '
                         f'(log `{item["log"]}`)')
        for item in report['unpaired']:
            lines.append(f'- {item["arm"]} seed {item["seed"]}: finished, but its pair did '
                         'not; not in the means or differences')
    return '\n'.join(lines) + '\n'


def plot_report(report: dict, path: str, metrics=('mAP', 'NDS')) -> str:
    """PNG: top row, the per-seed paired differences B - A of ``metrics`` with their mean
    and interval; bottom row, the validation curves of both arms (every seed). Returns
    ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    a, b = report['names']['a'], report['names']['b']
    fig = Figure(figsize=(5.0 * len(metrics), 8.0), dpi=100)
    FigureCanvasAgg(fig)
    colors = {a: '#1f77b4', b: '#d62728'}
    for col, name in enumerate(metrics):
        ax = fig.add_subplot(2, len(metrics), col + 1)
        entry = report['metrics'].get(name)
        ax.axhline(0.0, color='0.5', lw=1, ls='--')
        if entry and entry['differences']:
            diffs = entry['differences']
            ax.scatter(range(len(diffs)), diffs, color='k', zorder=3, label='per seed')
            diff = entry['difference']
            x = len(diffs) + 0.5
            if diff.get('low') is not None:
                ax.errorbar([x], [diff['mean']], yerr=[[diff['mean'] - diff['low']],
                                                       [diff['high'] - diff['mean']]],
                            fmt='o', color='#2ca02c', capsize=6, lw=2,
                            label=f'mean, {report["confidence"] * 100:g} % t-interval')
            else:
                ax.plot([x], [diff['mean']], 'o', color='#2ca02c', label='mean (no interval)')
            ax.set_xticks(list(range(len(diffs))) + [x],
                          [f's{s}' for s in entry['seeds']] + ['mean'])
            ax.legend(loc='best', fontsize=8)
        else:
            ax.text(0.5, 0.5, 'no finished pairs', ha='center', va='center',
                    transform=ax.transAxes)
        ax.set_title(f'{name}: {b} - {a} per seed'
                     + (f' (n={entry["difference"]["n"]})' if entry else ''), fontsize=10)
        ax.set_ylabel(f'difference in {name}')

        ax = fig.add_subplot(2, len(metrics), len(metrics) + col + 1)
        drawn = False
        for key, curve in sorted(report['curves'].items()):
            arm = key.rsplit('/', 1)[0]
            steps = sorted(int(s) for s in curve if name in curve[s])
            if not steps:
                continue
            ax.plot(steps, [curve[str(s)][name] for s in steps], marker='o', ms=3, lw=1,
                    color=colors.get(arm, '0.4'), alpha=0.8)
            drawn = True
        ax.set_title(f'validation {name} (every run)', fontsize=10)
        ax.set_xlabel('epoch')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        if drawn:
            ax.legend([Line2D([], [], color=colors[a]), Line2D([], [], color=colors[b])],
                      [a, b], fontsize=8, loc='best')
        else:
            ax.text(0.5, 0.5, 'no validation logged', ha='center', va='center',
                    transform=ax.transAxes)
    fig.tight_layout()
    tmp = path + '.tmp.png'     # atomic: a reader sees the old or the new picture
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


def report_paths(work_dir: str, names: tuple[str, str]) -> dict[str, str]:
    """Where a comparison's files go: ``<work_dir>/compare_<A>_vs_<B>.{md,json,png}``."""
    stem = osp.join(work_dir, f'compare_{names[0]}_vs_{names[1]}')
    return dict(md=stem + '.md', json=stem + '.json', png=stem + '.png')
