"""Planning the runs of a comparison: which (arm, seed) to train, resume or skip (no torch).

Each arm is a config plus ``--cfg-options``; each run trains one arm with one seed through
``tools/train.py`` in ``<work_dir>/<arm>/seed<k>``. A run whose final validation (the
validation at the end of the schedule) is recorded is skipped; a run with the checkpoint
of its last epoch but no final validation (stopped during it) is evaluated with
``tools/test.py``; a run with an earlier checkpoint resumes (``--resume``); any other run
trains from the start.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass

from .runs import (
    EVAL_DIR,
    LOG_FILE,
    METRIC_PREFIX,
    SPEC_FILE,
    final_checkpoint,
    finished_metrics,
    has_checkpoint,
    read_json,
    read_status,
)

SKIP, TRAIN, RESUME, EVALUATE = 'skip', 'train', 'resume', 'evaluate'


class CompareError(ValueError):
    """A comparison that cannot be planned as asked (the message says what to change)."""


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a name (its folder), a config and its own options."""
    name: str
    config: str
    options: tuple[str, ...] = ()


@dataclass
class RunPlan:
    """What to do for one (arm, seed) and how."""
    arm: str
    seed: int
    run_dir: str
    action: str                      # SKIP, TRAIN, RESUME or EVALUATE
    command: list[str]
    spec: dict
    final_step: int
    metrics: dict | None = None      # the final metrics of a run that is skipped
    prefix: str = METRIC_PREFIX      # the logged metric names' prefix (the evaluator's)

    @property
    def log(self) -> str:
        return osp.join(self.run_dir, LOG_FILE)


def parse_options(options) -> dict:
    """``KEY=VALUE`` strings -> dict, as ``tools/train.py --cfg-options`` reads them
    (mmengine's DictAction: lists, tuples, numbers); a leading ``+`` (a new key) dropped."""
    from mmengine.config import DictAction
    if not options:
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    for option in options:
        if '=' not in option:
            raise CompareError(f'option {option!r} is not KEY=VALUE')
    parsed = parser.parse_args(['--o', *options]).o
    return {key.lstrip('+'): value for key, value in parsed.items()}


def load_config(config: str, options=()):
    """The mmengine Config of ``config`` with ``options`` merged (custom imports not run:
    only the schedule is read here)."""
    from mmengine.config import Config
    if not osp.isfile(config):
        raise CompareError(f'config file {config} not found')
    cfg = Config.fromfile(config, import_custom_modules=False)
    try:
        cfg.merge_from_dict(parse_options(options))
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise CompareError(f'{config}: cannot apply the options {list(options)}: {exc}') from exc
    return cfg


def config_fingerprint(cfg) -> str:
    """sha256 (first 16 hex digits) of the resolved config (base files merged, options
    applied) as sorted JSON: what a run trained, whatever file it was read from. Edits
    that change no value (comments, formatting) keep it; any changed value changes it."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def max_epochs_of(cfg, config: str) -> int:
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' not in train_cfg:
        raise CompareError(f'{config}: train_cfg has no max_epochs; the comparison runner '
                           'handles epoch-based schedules (EpochBasedTrainLoop) only')
    return int(train_cfg['max_epochs'])


def schedule_options(cfg, config: str, epochs: int | None,
                     val_interval: int | None) -> list[str]:
    """The ``--cfg-options`` that cut the config's schedule to ``epochs`` with a validation
    every ``val_interval`` epochs (default: only at the end), as the benchmark scripts did
    by hand: ``train_cfg.max_epochs``, ``train_cfg.val_interval``, and every epoch-based
    scheduler that ended at the old ``max_epochs`` ends at ``epochs`` (``T_max`` of a
    cosine one follows: ``epochs - begin``)."""
    old = max_epochs_of(cfg, config)
    options = []
    if epochs is not None:
        if epochs < 1:
            raise CompareError(f'--epochs must be at least 1, got {epochs}')
        options.append(f'train_cfg.max_epochs={epochs}')
        schedulers = cfg.get('param_scheduler') or []
        single = isinstance(schedulers, dict)
        for i, scheduler in enumerate([schedulers] if single else schedulers):
            key = 'param_scheduler' if single else f'param_scheduler.{i}'
            if not scheduler.get('by_epoch', True) or scheduler.get('end') != old:
                continue
            options.append(f'{key}.end={epochs}')
            begin = scheduler.get('begin', 0)
            if 'T_max' in scheduler and scheduler['T_max'] == old - begin:
                if epochs - begin < 1:
                    raise CompareError(f'{config}: --epochs {epochs} leaves no epoch for '
                                       f'{key} ({scheduler.get("type")}, begins at epoch '
                                       f'{begin})')
                options.append(f'{key}.T_max={epochs - begin}')
    target = epochs if epochs is not None else old
    if val_interval is not None:
        if val_interval < 1:
            raise CompareError(f'--val-interval must be at least 1, got {val_interval}')
        options.append(f'train_cfg.val_interval={val_interval}')
    elif epochs is not None:
        options.append(f'train_cfg.val_interval={target}')
    return options


def _alive(pid) -> bool:
    """Whether a process with this id runs on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_spec(old: dict, new: dict) -> list[str]:
    """What differs between a run directory's recorded spec and the one planned now."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if key == 'config' and a and b and osp.realpath(a) == osp.realpath(b):
            continue
        if key == 'data_root' and a and b and osp.realpath(a) == osp.realpath(b):
            continue
        if key == 'config_sha256' and (a is None or b is None):
            continue    # a run recorded before the fingerprint was: not checked
        if a != b:
            diffs.append(f'{key}: {a!r} there, {b!r} now')
    if len(diffs) > 1:   # other options or config: the fingerprint differs as a consequence
        diffs = [d for d in diffs if not d.startswith('config_sha256')]
    return diffs


def plan_runs(arms, seeds, work_dir: str, *, common_options=(), epochs: int | None = None,
              val_interval: int | None = None, data_root: str | None = None,
              python: str = 'python', train_script: str = 'tools/train.py',
              test_script: str = 'tools/test.py', prefix: str = METRIC_PREFIX) -> list[RunPlan]:
    """One :class:`RunPlan` per (seed, arm), seeds outermost (the two runs of a seed are
    started together, so that pairs finish early).

    Raises:
        CompareError: a config or option problem, a repeated arm name, or a run directory
            that holds a run of another setup (config, options, seed or data root).
    """
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise CompareError(f'arm names must differ, got {names} (pass --names A B)')
    for name in names:
        if not name or '/' in name or name.startswith('.'):
            raise CompareError(f'arm name {name!r} cannot be a folder name (pass --names)')
    if len(set(seeds)) != len(list(seeds)):
        raise CompareError(f'--seeds has a repeated seed: {list(seeds)}')
    resolved = {}
    for arm in arms:
        cfg = load_config(arm.config, [*common_options, *arm.options])
        sched = schedule_options(cfg, arm.config, epochs, val_interval)
        options = [*sched, *common_options, *arm.options]
        final = epochs if epochs is not None else max_epochs_of(cfg, arm.config)
        full = load_config(arm.config, options)
        if epochs is not None:  # the arm's own options may still change the schedule
            final = max_epochs_of(full, arm.config)
        resolved[arm.name] = (options, final, config_fingerprint(full))
    plans = []
    for seed in seeds:
        for arm in arms:
            options, final, fingerprint = resolved[arm.name]
            run_dir = osp.join(work_dir, arm.name, f'seed{seed}')
            spec = dict(arm=arm.name, config=arm.config, options=options, seed=int(seed),
                        data_root=data_root, config_sha256=fingerprint)
            old = read_json(osp.join(run_dir, SPEC_FILE))
            if old is not None:
                diffs = _same_spec(old, spec)
                if diffs:
                    hint = (' (config_sha256: the config resolves to other values than when '
                            'that run started: a config or one of its bases was edited)'
                            if any(d.startswith('config_sha256') for d in diffs) else '')
                    raise CompareError(
                        f'{run_dir} holds a run of another setup ({"; ".join(diffs)}){hint}; '
                        'use another --work-dir or --names, or delete that folder to retrain '
                        'it')
            command = [python, train_script, arm.config, '--work-dir', run_dir,
                       '--seed', str(seed)]
            if data_root:
                command += ['--data-root', data_root]
            status = read_status(run_dir) or {}
            if status.get('status') == 'running' and _alive(status.get('pid')):
                raise CompareError(f'{run_dir} is being trained by process {status["pid"]} '
                                   '(another tools/compare.py); wait for it, or stop it')
            metrics = status.get('metrics') if status.get('status') == 'finished' else None
            if metrics is None:
                metrics = finished_metrics(run_dir, final, prefix)
            last = final_checkpoint(run_dir, final)
            if metrics is not None:
                action = SKIP
            elif last is not None:
                # trained to the end, but stopped before (or in) its final validation:
                # resuming would train nothing and validate nothing; evaluate the checkpoint
                action = EVALUATE
                command = [python, test_script, arm.config, last, '--work-dir', run_dir,
                           '--out-json', osp.join(run_dir, EVAL_DIR)]
                if data_root:
                    command += ['--data-root', data_root]
            elif has_checkpoint(run_dir):
                action = RESUME
                command.append('--resume')
            else:
                action = TRAIN
            if options:
                command += ['--cfg-options', *options]
            plans.append(RunPlan(arm=arm.name, seed=int(seed), run_dir=run_dir, action=action,
                                 command=command, spec=spec, final_step=final, metrics=metrics,
                                 prefix=prefix))
    return plans
