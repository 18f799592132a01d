"""Stored checkpoints with a record of how they were made, verified before use.

A stored checkpoint ``X.pth`` (e.g. a demo teacher kept so that the demo need not train
it) comes with ``X.pth.json``:

- ``sha256`` and ``size`` of ``X.pth``;
- ``command`` (the command that trained it), ``config``, ``options`` (its
  ``--cfg-options``), ``train_seed`` (``randomness.seed``);
- ``data_seed`` (the seed the synthetic world was generated with, from its
  ``synthetic_config.json``; None for another dataset) and ``world`` (:func:`world_fingerprint`: a
  SHA-256 over the info files, so any other world, or the same one re-generated
  differently, has another fingerprint).

:func:`verify_stored_checkpoint` returns None when all of this matches what the caller is
about to run, else one line saying what differs: the caller then does not use the file
(the demo says so and trains the teacher instead).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os.path as osp
import pickle
import re
import shutil
import time

from perception_kd.datasets.io import write_atomic

__all__ = ['INFO_PATTERN', 'RECORD_SUFFIX', 'file_sha256', 'read_record', 'save_stored_checkpoint',
           'verify_stored_checkpoint', 'world_data_seed', 'world_fingerprint']

RECORD_SUFFIX = '.json'
INFO_PATTERN = 'nuscenes_infos_*.pkl'
_BASE_INFOS = re.compile(r'nuscenes_infos_(train|val|test)\.pkl$')


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def _info_files(data_root: str) -> list[str]:
    """The split info files of ``tools/create_data.py`` (not derived ones like ``*_ocf``)."""
    return sorted(p for p in glob.glob(osp.join(data_root, INFO_PATTERN))
                  if _BASE_INFOS.search(osp.basename(p)))


def world_fingerprint(data_root: str) -> str | None:
    """SHA-256 over the names and contents of ``data_root``'s split info files, or None
    when there are none.

    The contents are hashed without ``metainfo['data_root']`` (the absolute folder they
    were made in), so the same world in another clone or folder has the same fingerprint.
    """
    files = _info_files(data_root)
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        with open(path, 'rb') as f:
            infos = pickle.load(f)
        if isinstance(infos, dict) and isinstance(infos.get('metainfo'), dict):
            infos = dict(infos, metainfo={k: v for k, v in infos['metainfo'].items()
                                          if k != 'data_root'})
        digest.update(osp.basename(path).encode() + b'\0')
        digest.update(hashlib.sha256(pickle.dumps(infos, protocol=4)).hexdigest().encode())
    return digest.hexdigest()


def world_data_seed(data_root: str) -> int | None:
    """The generator seed of a synthetic world: ``synthetic_config.json`` of
    ``tools/make_synthetic.py``, else its scenes' description (``... seed N``); None for
    another dataset."""
    try:
        with open(osp.join(data_root, 'synthetic_config.json')) as f:
            return int(json.load(f)['seed'])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for path in sorted(glob.glob(osp.join(data_root, '*', 'scene.json'))):
        try:
            with open(path) as f:
                scenes = json.load(f)
        except (OSError, ValueError):
            continue
        for scene in scenes[:1]:
            found = re.search(r'seed (\d+)$', str(scene.get('description', '')))
            if found:
                return int(found.group(1))
    return None


def read_record(path: str) -> dict | None:
    try:
        with open(path + RECORD_SUFFIX) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _model_weights(src: str) -> dict:
    """The model weights of checkpoint ``src`` (no optimizer, no message hub): a stored
    checkpoint kept in a repository is a third of the size."""
    from perception_kd.utils.checkpoint import checkpoint_state_dict, load_checkpoint_file
    checkpoint = load_checkpoint_file(src)
    meta = checkpoint.get('meta') or {}
    return dict(state_dict=checkpoint_state_dict(checkpoint),
                meta={k: meta[k] for k in ('epoch', 'iter') if k in meta})


def save_stored_checkpoint(src: str, dst: str, *, command: list | str, config: str,
                           options: list | None = None, train_seed: int | None = None,
                           data_root: str, weights_only: bool = False) -> dict:
    """Copy checkpoint ``src`` to ``dst`` and write its record ``dst + '.json'``.

    ``weights_only``: store the model weights alone (``state_dict`` and the epoch/iter of
    ``meta``), not the optimizer state. Both writes are atomic (temporary file + rename);
    the record is written after the checkpoint, so a record always describes a complete
    file. Returns the record.
    """
    if weights_only:
        import torch
        weights = _model_weights(src)
        write_atomic(dst, lambda f: torch.save(weights, f), fsync=True)
    elif osp.abspath(src) != osp.abspath(dst):
        with open(src, 'rb') as source:
            write_atomic(dst, lambda f: shutil.copyfileobj(source, f), fsync=True)
    record = dict(
        file=osp.basename(dst), sha256=file_sha256(dst), size=osp.getsize(dst),
        command=command if isinstance(command, str) else ' '.join(map(str, command)),
        config=config, options=list(options or []), train_seed=train_seed,
        data_seed=world_data_seed(data_root), world=world_fingerprint(data_root),
        created=time.strftime('%Y-%m-%d %H:%M:%S'))
    write_atomic(dst + RECORD_SUFFIX, lambda f: f.write(json.dumps(record, indent=2).encode()))
    return record


def verify_stored_checkpoint(path: str, *, config: str | None = None,
                             options: list | None = None, train_seed: int | None = None,
                             data_root: str) -> str | None:
    """None if ``path`` is the stored checkpoint it says it is, for this config, options,
    seed and world; otherwise one line saying why it must not be used.

    ``config``/``options``/``train_seed``: checked when given (None: not checked).
    """
    if not osp.isfile(path):
        return f'{path} not found'
    record = read_record(path)
    if record is None:
        return (f'{path} has no readable record {path}{RECORD_SUFFIX} (sha256, command, data '
                'seed, world): its origin cannot be checked')
    digest = file_sha256(path)
    if record.get('sha256') != digest:
        return (f'{path} does not match its record: sha256 {digest[:12]}... against '
                f'{str(record.get("sha256"))[:12]}... recorded (changed or damaged since it '
                'was stored)')
    if config is not None and osp.normpath(record.get('config') or '') != osp.normpath(config):
        return f'{path} was trained with {record.get("config")}, not {config}'
    if options is not None and list(record.get('options') or []) != list(options):
        differ = sorted(set(map(str, options)) ^ set(map(str, record.get('options') or [])))
        return f'{path} was trained with other options (differing: {" ".join(differ)})'
    if train_seed is not None and record.get('train_seed') != train_seed:
        return f'{path} was trained with seed {record.get("train_seed")}, not {train_seed}'
    world = world_fingerprint(data_root)
    if world is None:
        return f'{data_root} has no info files ({INFO_PATTERN}) to check the world against'
    if record.get('world') != world:
        seed = world_data_seed(data_root)
        seeds = (f' (data seed {record.get("data_seed")} recorded, {seed} here)'
                 if record.get('data_seed') != seed else '')
        return (f'{path} was trained on another world than {data_root}: its info files '
                f'differ{seeds}')
    return None
