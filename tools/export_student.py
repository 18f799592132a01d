#!/usr/bin/env python
"""Distilled checkpoint -> a plain student detector checkpoint.

The distiller's checkpoints hold the student (``student.*``), the frozen teacher
(``teacher.*``) and the adapters (``adapters.*``). This keeps the student only, checks
that its keys and shapes fit the student model of the distillation config, and writes a
checkpoint that ``tools/test.py`` loads with the student's own detector config.

Examples:
    python tools/export_student.py configs/unidistill_lidar2cam_cpu.py \\
        work_dirs/unidistill_lidar2cam_cpu/epoch_12.pth
    # -> work_dirs/unidistill_lidar2cam_cpu/epoch_12_student.pth, then
    python tools/test.py configs/bevdepth_cam_cpu.py \\
        work_dirs/unidistill_lidar2cam_cpu/epoch_12_student.pth
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import perception_kd  # noqa: E402
from perception_kd.engine import (  # noqa: E402
    CheckpointMismatchError,
    ConfigError,
    compare_state_dicts,
    load_checkpoint_file,
    load_config,
)
from perception_kd.models.distill import model_cfg_from, student_state_from_checkpoint  # noqa: E402
from perception_kd.registry import MODELS  # noqa: E402
from perception_kd.utils.checkpoint import checkpoint_state_dict  # noqa: E402
from perception_kd.utils.cli import tool_errors  # noqa: E402

# every dataset, transform, model, hook and metric; torch.load reads mmengine checkpoints
perception_kd.register_all_modules()

PROG = 'export_student.py'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the distillation config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='a Distiller checkpoint')
    parser.add_argument('--out', help='output file (default: <checkpoint>_student.pth)')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output file')
    return parser.parse_args(argv)


def export_student(config: str, checkpoint: str, out: str = None, force: bool = False):
    """Write the student of ``checkpoint`` to ``out``; returns the path written and the
    student's config path (None when the distillation config gives a dict)."""
    cfg = load_config(config)
    model_cfg = cfg.get('model') or {}
    if model_cfg.get('type') != 'Distiller':
        raise ConfigError(f'{config} is not a distillation config (model.type is '
                          f'{model_cfg.get("type")!r}, expected "Distiller")')
    out = out or osp.splitext(checkpoint)[0] + '_student.pth'
    if osp.abspath(out) == osp.abspath(checkpoint):
        raise ConfigError(f'--out {out} is the input checkpoint; choose another file')
    if osp.exists(out) and not force:
        raise FileExistsError(f'{out} exists; pass --force to overwrite it or --out elsewhere')
    ckpt = load_checkpoint_file(checkpoint)
    try:
        state = student_state_from_checkpoint(checkpoint_state_dict(ckpt))
    except KeyError as exc:
        raise CheckpointMismatchError(f'{checkpoint}: {exc.args[0]}') from exc
    student_spec = model_cfg['student']
    with DefaultScope.overwrite_default_scope('perception_kd'):
        student = MODELS.build(model_cfg_from(student_spec, 'student'))
    mismatch = compare_state_dicts(student.state_dict(), state)
    if not mismatch.ok:
        raise CheckpointMismatchError(
            f'the student weights of {checkpoint} do not match the student '
            f'model of {config}:\n{mismatch.format()}'
        )
    meta = dict(ckpt.get('meta') or {})
    meta.update(exported_from=osp.abspath(checkpoint), distill_config=osp.abspath(config),
                student_config=student_spec if isinstance(student_spec, str) else None)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = f'{out}.tmp{os.getpid()}'
    try:
        torch.save(dict(state_dict=state, meta=meta), tmp)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return out, meta['student_config']


def main(argv=None) -> str:
    args = parse_args(argv)
    with tool_errors(PROG, expected=(FileNotFoundError, FileExistsError, ConfigError,
                                     CheckpointMismatchError, OSError)):
        out, student_config = export_student(args.config, args.checkpoint, args.out, args.force)
    hint = osp.relpath(student_config) if student_config else "<the student's detector config>"
    print(f'{PROG}: wrote {out}\ntest it with:\n  python tools/test.py {hint} {out}')
    return out


if __name__ == '__main__':
    main()
