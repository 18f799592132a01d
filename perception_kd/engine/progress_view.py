"""Run a tool in a subprocess and show its progress: a bar per training and evaluation.

:func:`run_with_progress` starts the command with its output in a log file and the
environment variable ``PERCEPTION_KD_PROGRESS_FILE`` set; a training or test run built by
:func:`perception_kd.engine.build_runner` then writes its position after every iteration
(:class:`perception_kd.engine.progress.ProgressFileHook`), and this module draws it:

- on a terminal, a tqdm bar per phase (iterations, elapsed time, the run's own ETA and
  its current total loss);
- otherwise (a log file, CI, a terminal that reports a 0x0 size), one plain line every
  ``interval`` seconds and one per phase change, so nothing depends on a terminal width.

:func:`run_lanes` runs several such commands side by side (lanes of jobs, e.g. two trainings
on one thread each), one bar per lane. On failure it prints the last lines of the log and
the exact command that re-runs the step alone (the other lanes are stopped), then raises
:class:`StepFailed`. :func:`format_summary` tabulates the time of each
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

__all__ = ['Job', 'StepFailed', 'StepResult', 'format_duration', 'format_summary',
           'progress_mode', 'rerun_command', 'run_lanes', 'run_with_progress']

PROGRESS_ENV = 'PERCEPTION_KD_PROGRESS_FILE'   # = perception_kd.engine.progress.PROGRESS_ENV
MODE_ENV = 'PERCEPTION_KD_PROGRESS'             # 'bar', 'lines' or 'off' (default: auto)
PHASE_NAMES = dict(train='training', val='validation', test='evaluation')


@dataclass
class StepResult:
    """One step of a multi-step run: its label, wall time, log and how it ended."""
    label: str
    seconds: float
    log: str | None = None
    status: str = 'done'          # 'done', 'skipped', 'failed', 'stopped'
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

    def __init__(self, label: str, mode: str, interval: float, stream,
                 position: int | None = None):
        self.label = label
        self.position = position
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
            unit='it', file=self.stream, ncols=max(min(columns, 120), 40),
            leave=self.position is None, position=self.position,
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


@dataclass
class Job:
    """One command of :func:`run_lanes`: its log, its label and extra environment."""
    cmd: list
    log: str
    label: str
    env: dict | None = None
    announce: str | None = None     # printed when the job starts (default: nothing)


class _Running:
    """A started job: its process, open log, progress file and view."""

    def __init__(self, job: Job, cwd, mode, interval, stream, position, say):
        self.job = job
        self.log_path = os.path.abspath(job.log)
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.progress_file = self.log_path + '.progress.json'
        if os.path.exists(self.progress_file):
            os.remove(self.progress_file)
        env = dict(os.environ, **{k: str(v) for k, v in (job.env or {}).items()})
        env[PROGRESS_ENV] = self.progress_file
        if job.announce:
            say(job.announce)
        say(f'  log: {self.log_path}')
        self.view = _View(job.label, mode, interval, stream, position)
        self.start = time.time()
        self.logfile = open(self.log_path, 'w')
        try:
            self.proc = subprocess.Popen(job.cmd, cwd=cwd, env=env, stdout=self.logfile,
                                         stderr=subprocess.STDOUT)
        except BaseException:
            self.logfile.close()
            raise

    def poll(self) -> bool:
        """Draw the latest progress; True when the process has ended."""
        ended = self.proc.poll() is not None
        self.view.update(_read(self.progress_file))
        if ended:
            self.logfile.close()
            self.view.close()
        return ended

    def stop(self) -> StepResult:
        """Terminate the process (another step failed or the user interrupted)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()
        self.logfile.close()
        self.view.close()
        return StepResult(self.job.label, time.time() - self.start, self.log_path, 'stopped',
                          self.proc.returncode)


def run_lanes(lanes: list, *, cwd: str | None = None, steps: list | None = None,
              mode: str | None = None, interval: float = 30.0, poll: float = 0.5,
              tail_lines: int = 25, stream=None) -> list:
    """Run lanes of commands side by side: the jobs of one lane one after the other, the
    lanes at the same time, each with its own progress bar (or lines).

    Args:
        lanes: a list of lanes, each a list of :class:`Job`.
        cwd, mode, interval, poll, tail_lines, stream: as in :func:`run_with_progress`.
        steps: a list each job's :class:`StepResult` is appended to when it ends (also on
            failure; jobs stopped because another failed are recorded as ``'stopped'``).

    Returns:
        The :class:`StepResult` of every job, in the order they ended.

    Raises:
        StepFailed: a job exited non-zero; the other running jobs were stopped, the failed
            job's last log lines and the command that re-runs it alone were printed.
    """
    stream = stream or sys.stdout
    mode = mode or progress_mode(stream)

    def say(text: str) -> None:
        if mode == 'bar' and len(lanes) > 1:
            from tqdm import tqdm
            tqdm.write(text, file=stream)
            stream.flush()
        else:
            print(text, file=stream, flush=True)

    pending = [list(lane) for lane in lanes]
    running: dict = {}
    results: list = []

    def record(result: StepResult) -> None:
        results.append(result)
        if steps is not None:
            steps.append(result)

    try:
        while True:
            for i, lane in enumerate(pending):
                if i not in running and lane:
                    running[i] = _Running(lane.pop(0), cwd, mode, interval, stream,
                                          i if len(lanes) > 1 else None, say)
            if not running:
                break
            for i, run in list(running.items()):
                if not run.poll():
                    continue
                del running[i]
                job, code = run.job, run.proc.returncode
                seconds = time.time() - run.start
                result = StepResult(job.label, seconds, run.log_path,
                                    'done' if code == 0 else 'failed', code)
                record(result)
                if code == 0:
                    say(f'  {job.label}: done in {format_duration(seconds)}')
                    continue
                for other in list(running.values()):
                    record(other.stop())
                    say(f'  {other.job.label}: stopped (step "{job.label}" failed)')
                running.clear()
                message = (f'step "{job.label}" failed (exit {code}) after '
                           f'{format_duration(seconds)}; last lines of {run.log_path}:\n'
                           f'{_tail(run.log_path, tail_lines)}'
                           f'to re-run this step alone:\n  {rerun_command(job.cmd, cwd, job.env)}')
                say(message)
                raise StepFailed(message, result)
            time.sleep(poll)
    except BaseException:
        for run in running.values():
            run.stop()
        raise
    return results


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
    return run_lanes([[Job(cmd, log_path, label, env)]], cwd=cwd, steps=steps, mode=mode,
                     interval=interval, poll=poll, tail_lines=tail_lines, stream=stream)[0]


def format_summary(steps: list, wall: float | None = None) -> str:
    """A markdown table of the steps' times and their sum; ``wall``: the elapsed time
    too (less than the sum when steps ran side by side)."""
    lines = ['| step | time | status |', '|---|---|---|']
    for step in steps:
        lines.append(f'| {step.label} | {format_duration(step.seconds)} | {step.status} |')
    total = sum(step.seconds for step in steps)
    lines.append(f'| **total** | **{format_duration(total)}** | |')
    if wall is not None:
        lines.append(f'| **wall time** (steps side by side) | **{format_duration(wall)}** | |')
    return '\n'.join(lines)
