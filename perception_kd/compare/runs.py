"""Reading what a training run left in its work dir (no torch).

``tools/train.py`` writes, per start of a run, ``<work_dir>/<timestamp>/vis_data/scalars.json``
(mmengine's local visualizer backend: one JSON record per line; training records carry
``loss``, validation records the metric keys, e.g. ``NuScenes/mAP``, with ``step`` = the
epoch for epoch-based loops) and the checkpoints ``epoch_N.pth`` / ``last_checkpoint`` in
the work dir itself. A resumed run adds another ``<timestamp>/``.

The comparison runner adds two small files per run directory:

* ``compare_run.json``: what the run is (config, options, seed); a second comparison that
  names the same directory for another setup is refused.
* ``compare_status.json``: the outcome of its last attempt (``finished`` with the final
  metrics, or ``failed`` with the exit code, the reason and the log path), and wall times.
"""
from __future__ import annotations

import glob
import json
import math
import os
import os.path as osp
import tempfile

METRIC_PREFIX = 'NuScenes/'
SPEC_FILE = 'compare_run.json'
STATUS_FILE = 'compare_status.json'
LOG_FILE = 'train.log'
EVAL_DIR = 'final_eval'     # tools/test.py --out-json of a run that missed its final validation


def scalar_files(work_dir: str) -> list[str]:
    """The ``*/vis_data/scalars.json`` of a work dir, oldest run first (the timestamped
    folder names sort in time; the modification time breaks ties)."""
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    return sorted(files, key=lambda p: (osp.basename(osp.dirname(osp.dirname(p))),
                                        osp.getmtime(p)))


def read_records(path: str) -> list[dict]:
    """The records of one ``scalars.json``; a line cut off by a killed process (the last
    one) is skipped."""
    records = []
    with open(path) as file:
        for line in file:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def validation_curve(work_dir: str, prefix: str = METRIC_PREFIX) -> dict[int, dict[str, float]]:
    """``{step: {metric: value}}`` of every validation logged in the work dir (metric names
    without ``prefix``), over all its runs; a later run's value for a step replaces an
    earlier one (a run resumed before that step's validation)."""
    curve: dict[int, dict[str, float]] = {}
    for path in scalar_files(work_dir):
        for record in read_records(path):
            values = {k[len(prefix):]: v for k, v in record.items()
                      if k.startswith(prefix) and isinstance(v, (int, float))}
            if values and 'step' in record:
                curve[int(record['step'])] = values
    return dict(sorted(curve.items()))


def final_metrics(work_dir: str, final_step: int | None = None,
                  prefix: str = METRIC_PREFIX) -> dict[str, float] | None:
    """The metrics of the validation at ``final_step`` (the end of the schedule), or of the
    last validation logged when ``final_step`` is None; None when there is none."""
    curve = validation_curve(work_dir, prefix)
    if not curve:
        return None
    if final_step is None:
        return curve[max(curve)]
    return curve.get(int(final_step))


def final_checkpoint(work_dir: str, final_step: int) -> str | None:
    """``epoch_<final_step>.pth`` of the work dir if it exists (the run trained to the end
    of its schedule), else None."""
    path = osp.join(work_dir, f'epoch_{int(final_step)}.pth')
    return path if osp.isfile(path) else None


def evaluated_metrics(work_dir: str, final_step: int,
                      prefix: str = METRIC_PREFIX) -> dict[str, float] | None:
    """The metrics ``tools/test.py`` wrote for the final checkpoint into
    ``<work_dir>/final_eval/metrics.json`` (names without ``prefix``), or None."""
    data = read_json(osp.join(work_dir, EVAL_DIR, 'metrics.json'))
    if not data or osp.basename(str(data.get('checkpoint', ''))) != f'epoch_{int(final_step)}.pth':
        return None
    values = {k[len(prefix):]: v for k, v in (data.get('metrics') or {}).items()
              if k.startswith(prefix) and isinstance(v, (int, float))}
    return values or None


def finished_metrics(work_dir: str, final_step: int,
                     prefix: str = METRIC_PREFIX) -> dict[str, float] | None:
    """The run's final metrics: its validation at ``final_step`` as the training logged
    it, else ``tools/test.py``'s evaluation of its final checkpoint; None if neither."""
    metrics = final_metrics(work_dir, final_step, prefix)
    return metrics if metrics is not None else evaluated_metrics(work_dir, final_step, prefix)


def has_checkpoint(work_dir: str) -> bool:
    """Whether ``tools/train.py --resume`` has something to start from."""
    return (osp.isfile(osp.join(work_dir, 'last_checkpoint'))
            or bool(glob.glob(osp.join(work_dir, 'epoch_*.pth')))
            or bool(glob.glob(osp.join(work_dir, 'iter_*.pth'))))


def write_json_atomic(path: str, data) -> None:
    """Write JSON through a temporary file and ``os.replace`` (never a half-written file)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=osp.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as file:
            json.dump(_json_safe(data), file, indent=2)
            file.write('\n')
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _json_safe(value):
    """NaN and infinities as null (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def read_json(path: str) -> dict | None:
    """A JSON file's content; None when it does not exist.

    Raises:
        ValueError: the file exists but is not valid JSON (names the file).
    """
    if not osp.isfile(path):
        return None
    try:
        with open(path) as file:
            return json.load(file)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: not valid JSON ({exc}); delete it to start that run '
                         'afresh') from exc


def read_status(run_dir: str) -> dict | None:
    return read_json(osp.join(run_dir, STATUS_FILE))


def write_status(run_dir: str, status: dict) -> None:
    write_json_atomic(osp.join(run_dir, STATUS_FILE), status)


def last_log_line(path: str, max_bytes: int = 8192, max_chars: int = 300) -> str:
    """The error a failed run printed: from the last line of the log's tail that mentions
    an error (a tool's ``train.py: error: ...`` with its continuation lines, or a
    traceback's last line) to the end, on one line; else the last line; '' if none."""
    if not osp.isfile(path):
        return ''
    with open(path, 'rb') as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        file.seek(max(0, size - max_bytes))
        tail = file.read().decode('utf-8', errors='replace')
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return ''
    marked = [i for i, line in enumerate(lines) if 'error' in line.lower()]
    text = ' '.join(lines[marked[-1]:marked[-1] + 4]) if marked else lines[-1]
    return text if len(text) <= max_chars else text[:max_chars - 3] + '...'
