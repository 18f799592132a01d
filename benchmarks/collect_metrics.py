#!/usr/bin/env python
"""Print a Markdown table of the final validation metrics of training runs.

    python benchmarks/collect_metrics.py work_dirs/exp_a work_dirs/exp_b ...
    python benchmarks/collect_metrics.py work_dirs/ud_e6/*/seed*     # tools/compare.py runs

Reads the last validation (``NuScenes/mAP`` ...) logged in each work dir's
``*/vis_data/scalars.json`` (mmengine's local visualizer backend), i.e. the validation
that ``tools/train.py`` runs at the end of the schedule, with the reader of
``tools/compare.py`` (``perception_kd/compare/runs.py``). For two setups over several
seeds, ``tools/compare.py`` gives the paired table with its interval (docs/compare.md).
"""
import importlib.util
import os.path as osp
import sys

COLUMNS = ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE')
_RUNS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'perception_kd', 'compare',
                 'runs.py')


def _runs_module():
    """perception_kd/compare/runs.py alone (standard library only; the package's
    ``__init__`` would import torch and every model)."""
    spec = importlib.util.spec_from_file_location('pkd_compare_runs', _RUNS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def final_metrics(work_dir: str) -> dict:
    metrics = _runs_module().final_metrics(work_dir)
    if metrics is None:
        raise SystemExit(f'collect_metrics.py: error: no validation metrics under {work_dir} '
                         '(did the run finish its schedule?)')
    return metrics


def run_name(work_dir: str) -> str:
    """The folder name; ``<arm>/seed<k>`` for a tools/compare.py run."""
    parts = osp.normpath(work_dir).split(osp.sep)
    if len(parts) >= 2 and parts[-1].startswith('seed') and parts[-1][4:].isdigit():
        return '/'.join(parts[-2:])
    return parts[-1]


def main(argv=None):
    dirs = (argv if argv is not None else sys.argv[1:])
    if not dirs:
        raise SystemExit(__doc__)
    print('| run | ' + ' | '.join(COLUMNS) + ' |')
    print('|---|' + '---|' * len(COLUMNS))
    for work_dir in dirs:
        metrics = final_metrics(work_dir)
        print(f'| {run_name(work_dir)} | '
              + ' | '.join(f'{metrics.get(c, float("nan")):.4f}' for c in COLUMNS) + ' |')


if __name__ == '__main__':
    main()
