"""Paired multi-seed comparisons of two training setups (``tools/compare.py``).

:mod:`.plan` decides which (arm, seed) runs to train, resume or skip; :mod:`.execute` runs
them through ``tools/train.py`` a few at a time; :mod:`.runs` reads what the runs logged;
:mod:`.report` pairs the seeds and writes the table (with the t-interval of
:func:`perception_kd.utils.stats.paired_difference`) and the PNG. Nothing here imports
torch. See docs/compare.md.
"""
from .execute import execute, thread_env
from .plan import (
    EVALUATE,
    RESUME,
    SKIP,
    TRAIN,
    Arm,
    CompareError,
    RunPlan,
    plan_runs,
    schedule_options,
)
from .report import METRICS, build_report, format_markdown, plot_report, report_paths, run_state
from .runs import final_metrics, validation_curve

__all__ = [
    'Arm', 'CompareError', 'EVALUATE', 'METRICS', 'RESUME', 'RunPlan', 'SKIP', 'TRAIN',
    'build_report', 'execute', 'final_metrics', 'format_markdown', 'plan_runs', 'plot_report',
    'report_paths', 'run_state', 'schedule_options', 'thread_env', 'validation_curve',
]
