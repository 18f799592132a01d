"""Run a tool in a subprocess and show its progress: a bar per training and evaluation.

:func:`run_with_progress` starts the command with its output in a log file and the
environment variable ``PERCEPTION_KD_PROGRESS_FILE`` set; a training or test run built by
:func:`perception_kd.engine.build_runner` then writes its position after every iteration
(:class:`perception_kd.engine.progress.ProgressFileHook`), and this module draws it:

- on a terminal, a tqdm bar per phase (iterations, elapsed time, the run's own ETA and
  its current total loss);
- otherwise (a log file, CI, a terminal that reports a 0x0 size), one plain line every
  ``interval`` seconds and one per phase change, so nothing depends on a terminal width.

On failure it prints the last lines of the log and the exact command that re-runs the step
alone, then raises :class:`StepFailed`. :func:`format_summary` tabulates the time of each
step. The module itself uses only the standard library and tqdm.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

__all__ = ['StepFailed', 'StepResult', 'format_duration', 'format_summary', 'progress_mode',
           'rerun_command', 'run_with_progress']

PROGRESS_ENV = 'PERCEPTION_KD_PROGRESS_FILE'   # = perception_kd.engine.progress.PROGRESS_ENV
MODE_ENV = 'PERCEPTION_KD_PROGRESS'             # 'bar', 'lines' or 'off' (default: auto)
PHASE_NAMES = dict(train='training', val='validation', test='evaluation')


@dataclass
class StepResult:
    """One step of a multi-step run: its label, wall time, log and how it ended."""
    label: str
    seconds: float
    log: str | None = None
    status: str = 'done'          # 'done', 'skipped', 'failed'
    returncode: int = 0


class StepFailed(RuntimeError):
    """A step's command exited with a non-zero status (the message says what to do)."""

    def __init__(self, message: str, result: StepResult):
        super().__init__(message)
        self.result = result


def format_duration(seconds: float | None) -> str:
    """``75`` -> ``'1:15'``, ``3725`` -> ``'1:02:05'``; None -> ``'?'``."""
    if seconds is None:
        return '?'
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


def rerun_command(cmd: list, cwd: str | None = None, env: dict | None = None) -> str:
    """A shell line that runs ``cmd`` alone as it was run here."""
    prefix = f'cd {shlex.quote(cwd)} && ' if cwd else ''
    assigns = ''.join(f'{k}={shlex.quote(str(v))} ' for k, v in (env or {}).items())
    return prefix + assigns + shlex.join(str(c) for c in cmd)


def progress_mode(stream=None) -> str:
    """``'bar'`` on a terminal with a usable size, ``'lines'`` otherwise.

    ``PERCEPTION_KD_PROGRESS=bar|lines|off`` forces a mode. A terminal reporting 0 columns
    (some containers and CI runners) gets lines: tqdm would size its bar from it.
    """
    forced = os.environ.get(MODE_ENV, '').strip().lower()
    if forced in ('bar', 'lines', 'off'):
        return forced
    stream = stream or sys.stdout
    try:
        if not stream.isatty():
            return 'lines'
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 'lines'
    return 'bar' if columns >= 40 else 'lines'


def _read(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _describe(record: dict) -> str:
    """``'iter 12/40 (30%), epoch 1/2, loss 3.2104, eta 0:41'``."""
    it, total = record.get('iter', 0), record.get('max_iters') or 0
    parts = [f'{"iter" if record.get("phase") == "train" else "batch"} {it}/{total or "?"}'
             + (f' ({100 * it / total:.0f}%)' if total else '')]
    if record.get('phase') == 'train' and record.get('max_epochs'):
        parts.append(f'epoch {min(record.get("epoch", 0) + 1, record["max_epochs"])}/'
                     f'{record["max_epochs"]}')
    if record.get('loss') is not None:
        parts.append(f'loss {record["loss"]:.4f}')
    if record.get('status') == 'metric':
        parts.append('computing the metric')
    elif record.get('eta_s') is not None and record.get('status') != 'done':
        parts.append(f'eta {format_duration(record["eta_s"])}')
    return ', '.join(parts)


class _View:
    """Draws successive progress records: tqdm bars or periodic lines."""

    def __init__(self, label: str, mode: str, interval: float, stream):
        self.label = label
        self.mode = mode
        self.interval = interval
        self.stream = stream
        self.bar = None
        self.phase = None
        self.last_line = 0.0
        self.last_record = None

    def _open_bar(self, record: dict) -> None:
        from tqdm import tqdm
        columns = shutil.get_terminal_size((100, 24)).columns
        self.bar = tqdm(
            total=record.get('max_iters') or None, initial=record.get('iter', 0),
            desc=f'{self.label}: {PHASE_NAMES.get(record["phase"], record["phase"])}',
            unit='it', file=self.stream, ncols=max(min(columns, 120), 40), leave=True,
            dynamic_ncols=False, mininterval=0.5,
            bar_format='{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} '
                       '[{elapsed}{postfix}]')

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def update(self, record: dict | None) -> None:
        if record is None or self.mode == 'off' or record == self.last_record:
            return
        self.last_record = record
        phase = record.get('phase')
        new_phase = phase != self.phase
        self.phase = phase
        if self.mode == 'bar':
            if new_phase:
                self._close_bar()
                self._open_bar(record)
            if record.get('max_iters') and self.bar.total != record['max_iters']:
                self.bar.total = record['max_iters']
            self.bar.n = record.get('iter', 0)
            post = []
            if record.get('status') == 'metric':
                post.append('computing the metric')
            elif record.get('eta_s') is not None and record.get('status') != 'done':
                post.append(f'eta {format_duration(record["eta_s"])}')
            if record.get('loss') is not None:
                post.append(f'loss {record["loss"]:.4f}')
            self.bar.set_postfix_str(', '.join(post), refresh=False)
            self.bar.refresh()
            return
        now = time.time()
        if new_phase or record.get('status') in ('done', 'metric') or \
                now - self.last_line >= self.interval:
            self.last_line = now
            name = PHASE_NAMES.get(phase, phase)
            print(f'  {self.label}: {name} {_describe(record)}', file=self.stream, flush=True)

    def close(self) -> None:
        self._close_bar()


def _tail(path: str, lines: int) -> str:
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError as err:
        return f'(cannot read {path}: {err})\n'


def run_with_progress(cmd: list, log_path: str, label: str, *, cwd: str | None = None,
                      env: dict | None = None, steps: list | None = None,
                      mode: str | None = None, interval: float = 30.0, poll: float = 0.5,
                      tail_lines: int = 25, stream=None) -> StepResult:
    """Run ``cmd`` with its output in ``log_path`` and show its progress under ``label``.

    Args:
        cmd: the command (a list; run without a shell).
        log_path: stdout and stderr of the command (its folder is created).
        label: the step's name in the bars, the messages and the summary.
        cwd: working directory of the command.
        env: extra environment variables for the command (and the re-run line).
        steps: a list the :class:`StepResult` is appended to (also on failure).
        mode: ``'bar'``, ``'lines'`` or ``'off'``; default :func:`progress_mode`.
        interval: seconds between two plain lines in ``'lines'`` mode.
        poll: seconds between two reads of the progress file.
        tail_lines: log lines printed on failure.
        stream: where to draw (default stdout).

    Returns:
        The step's :class:`StepResult`.

    Raises:
        StepFailed: the command exited non-zero; the log's last lines and the command to
            re-run the step alone have been printed.
    """
    stream = stream or sys.stdout
    mode = mode or progress_mode(stream)
    log_path = os.path.abspath(log_path)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    progress_file = log_path + '.progress.json'
    if os.path.exists(progress_file):
        os.remove(progress_file)
    full_env = dict(os.environ, **{k: str(v) for k, v in (env or {}).items()})
    full_env[PROGRESS_ENV] = progress_file
    print(f'  log: {log_path}', file=stream, flush=True)
    view = _View(label, mode, interval, stream)
    start = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                view.update(_read(progress_file))
                time.sleep(poll)
        except BaseException:
            proc.terminate()
            proc.wait()
            view.close()
            raise
    view.update(_read(progress_file))
    view.close()
    seconds = time.time() - start
    result = StepResult(label, seconds, log_path, 'done' if proc.returncode == 0 else 'failed',
                        proc.returncode)
    if steps is not None:
        steps.append(result)
    if proc.returncode != 0:
        message = (f'step "{label}" failed (exit {proc.returncode}) after '
                   f'{format_duration(seconds)}; last lines of {log_path}:\n'
                   f'{_tail(log_path, tail_lines)}'
                   f'to re-run this step alone:\n  {rerun_command(cmd, cwd, env)}')
        print(message, file=stream, flush=True)
        raise StepFailed(message, result)
    print(f'  {label}: done in {format_duration(seconds)}', file=stream, flush=True)
    return result


def format_summary(steps: list) -> str:
    """A markdown table of the steps' times (and their total)."""
    lines = ['| step | time | status |', '|---|---|---|']
    for step in steps:
        lines.append(f'| {step.label} | {format_duration(step.seconds)} | {step.status} |')
    total = sum(step.seconds for step in steps)
    lines.append(f'| **total** | **{format_duration(total)}** | |')
    return '\n'.join(lines)
