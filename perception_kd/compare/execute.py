"""Running planned training runs as subprocesses, a few at a time (no torch here).

Each run's output (stdout and stderr) is appended to ``<run_dir>/train.log``; its outcome
goes to ``<run_dir>/compare_status.json`` (see :mod:`perception_kd.compare.runs`). A run
that exits with 0 but has no validation at the end of its schedule in its logs is failed
too (a finished schedule without the official metric is not a result).
"""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

from .plan import SKIP, RunPlan
from .runs import (
    SPEC_FILE,
    finished_metrics,
    last_log_line,
    read_status,
    write_json_atomic,
    write_status,
)


def thread_env(threads: int, base: dict | None = None) -> dict:
    """The environment of a run: ``threads`` OpenMP / MKL threads, the Agg backend."""
    env = dict(os.environ if base is None else base)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               MPLBACKEND='Agg')
    return env


def _finished_status(plan: RunPlan, metrics: dict, previous: dict) -> dict:
    kept = {k: v for k, v in previous.items() if k not in ('reason', 'returncode')}
    return dict(kept, status='finished', arm=plan.arm, seed=plan.seed, metrics=metrics,
                final_step=plan.final_step, log=plan.log)


def record_adopted(plan: RunPlan) -> None:
    """A run found finished (final validation in its logs) gets its status file."""
    previous = read_status(plan.run_dir) or {}
    if previous.get('status') != 'finished':
        write_status(plan.run_dir, _finished_status(plan, plan.metrics, previous))


def execute(plans: list[RunPlan], procs: int = 1, threads: int = 1,
            echo: Callable[[str], None] = print, poll_s: float = 1.0) -> None:
    """Run the plans that are not skipped, at most ``procs`` at once, and record each
    outcome. Returns when all have ended; an interrupt (Ctrl-C) stops the running ones
    (their checkpoints stay: the next call resumes them)."""
    if procs < 1 or threads < 1:
        raise ValueError(f'--procs and --threads must be at least 1, got {procs}, {threads}')
    for plan in plans:
        if plan.action == SKIP:
            record_adopted(plan)
    queue = [plan for plan in plans if plan.action != SKIP]
    running: dict[subprocess.Popen, tuple[RunPlan, float, object, dict]] = {}
    env = thread_env(threads)
    try:
        while queue or running:
            while queue and len(running) < procs:
                plan = queue.pop(0)
                os.makedirs(plan.run_dir, exist_ok=True)
                write_json_atomic(os.path.join(plan.run_dir, SPEC_FILE), plan.spec)
                previous = read_status(plan.run_dir) or {}
                write_status(plan.run_dir, dict(previous, status='running', arm=plan.arm,
                                                seed=plan.seed, log=plan.log,
                                                started=time.strftime('%Y-%m-%d %H:%M:%S')))
                log = open(plan.log, 'a')
                log.write(f'\n==> compare: {plan.action} {plan.arm} seed {plan.seed}: '
                          f'{" ".join(plan.command)}\n')
                log.flush()
                proc = subprocess.Popen(plan.command, stdout=log, stderr=subprocess.STDOUT,
                                        env=env)
                write_status(plan.run_dir, dict(read_status(plan.run_dir), pid=proc.pid))
                running[proc] = (plan, time.monotonic(), log, previous)
                echo(f'compare: {plan.action} {plan.arm} seed {plan.seed} '
                     f'(log {plan.log})')
            time.sleep(poll_s)
            for proc in [p for p in running if p.poll() is not None]:
                plan, start, log, previous = running.pop(proc)
                log.close()
                _record_end(plan, proc.returncode, time.monotonic() - start, previous, echo)
    except BaseException:
        for proc in running:
            proc.terminate()
        for proc, (plan, _, log, _) in running.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            echo(f'compare: stopped {plan.arm} seed {plan.seed}; the next call resumes it')
        raise


def _record_end(plan: RunPlan, returncode: int, wall_s: float, previous: dict,
                echo: Callable[[str], None]) -> None:
    attempts = list(previous.get('attempts', []))
    attempts.append(dict(action=plan.action, returncode=returncode, wall_s=round(wall_s, 1)))
    total = round(sum(a['wall_s'] for a in attempts), 1)
    base = dict(previous, attempts=attempts, wall_s=total)
    base.pop('pid', None)
    metrics = (finished_metrics(plan.run_dir, plan.final_step, plan.prefix)
               if returncode == 0 else None)
    if metrics is not None:
        write_status(plan.run_dir, _finished_status(plan, metrics, base))
        shown = ', '.join(f'{k} {metrics[k]:.4f}' for k in ('mAP', 'NDS') if k in metrics)
        echo(f'compare: finished {plan.arm} seed {plan.seed} in {wall_s / 60:.1f} min'
             f'{": " + shown if shown else ""}')
        return
    if returncode != 0:
        reason = f'exit code {returncode}: {last_log_line(plan.log)}'
    else:
        reason = (f'exited with 0 but its logs have no validation at epoch '
                  f'{plan.final_step} (the end of the schedule)')
    write_status(plan.run_dir, dict(base, status='failed', arm=plan.arm, seed=plan.seed,
                                    returncode=returncode, reason=reason, log=plan.log,
                                    final_step=plan.final_step))
    echo(f'compare: FAILED {plan.arm} seed {plan.seed} ({reason}); log {plan.log}')
