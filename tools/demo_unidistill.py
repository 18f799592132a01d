#!/usr/bin/env python
"""The headline story on the synthetic set: LiDAR teacher -> camera student (UniDistill).

1. trains the LiDAR teacher (``configs/centerpoint_lidar_cpu.py``);
2. trains the camera student alone (``configs/bevdepth_cam_cpu.py``);
3. trains the same student distilled from the teacher (``configs/unidistill_lidar2cam_cpu.py``);
4. exports the distilled student (``tools/export_student.py``), evaluates the teacher and
   both students with the official nuScenes metric (``tools/test.py``, the students with
   the camera config) and prints the comparison table.

Every step runs the project's tools in a subprocess with the same seed and schedule for
both students; the schedule is shortened (``--epochs``) so the demo fits a laptop CPU.
A step whose result exists under ``--work-dir`` is skipped, so a second run only prints
the table (``--force`` retrains). ``make demo`` runs this after generating the data.

Example:
    python tools/demo_unidistill.py --data-root data/nuscenes/ --epochs 2 --teacher-epochs 3
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

TEACHER = 'configs/centerpoint_lidar_cpu.py'
STUDENT = 'configs/bevdepth_cam_cpu.py'
DISTILL = 'configs/unidistill_lidar2cam_cpu.py'
COLUMNS = ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--data-root', default='data/nuscenes/', help='nuScenes-format root with infos'
    )
    parser.add_argument('--work-dir', default='work_dirs/demo', help='where the three runs go')
    parser.add_argument('--epochs', type=int, default=2, help='epochs of each student')
    parser.add_argument('--teacher-epochs', type=int, default=3, help='epochs of the teacher')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='retrain even if results exist')
    return parser.parse_args(argv)


def schedule_options(epochs: int) -> list:
    """--cfg-options that shorten the cpu_short schedule (warmup epoch + cosine)."""
    if epochs < 2:
        raise SystemExit('demo_unidistill.py: error: --epochs/--teacher-epochs must be >= 2 '
                         '(one warmup epoch + at least one cosine epoch)')
    return [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
            f'param_scheduler.1.end={epochs}', f'param_scheduler.1.T_max={epochs - 1}']


def run(cmd: list, log: str) -> None:
    print('$ ' + ' '.join(cmd), flush=True)
    os.makedirs(osp.dirname(log), exist_ok=True)
    start = time.time()
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log) as f:
            tail = ''.join(f.readlines()[-25:])
        raise SystemExit(f'demo_unidistill.py: error: step failed (exit {proc.returncode}); '
                         f'last lines of {log}:\n{tail}')
    print(f'  done in {(time.time() - start) / 60:.1f} min (log: {log})', flush=True)


def train(config: str, work_dir: str, epochs: int, args, extra=()) -> str:
    """Train unless ``work_dir`` holds the final checkpoint; return that checkpoint."""
    final = osp.join(work_dir, f'epoch_{epochs}.pth')
    if osp.isfile(final) and not args.force:
        print(f'[skip] {final} exists', flush=True)
        return final
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
           '--data-root', args.data_root, '--cfg-options', f'randomness.seed={args.seed}',
           *schedule_options(epochs), *extra,
           # no validation inside training: evaluation is the separate test step
           f'+train_cfg.val_begin={epochs + 1}']
    run(cmd, osp.join(work_dir, 'train.out'))
    if not osp.isfile(final):
        raise SystemExit(f'demo_unidistill.py: error: training finished without {final}')
    return final


def test(config: str, checkpoint: str, out_dir: str, args) -> dict:
    metrics_file = osp.join(out_dir, 'metrics.json')
    if osp.isfile(metrics_file) and not args.force and \
            osp.getmtime(metrics_file) >= osp.getmtime(checkpoint):
        print(f'[skip] {metrics_file} exists', flush=True)
    else:
        run([sys.executable, 'tools/test.py', config, checkpoint, '--data-root', args.data_root,
             '--work-dir', osp.dirname(out_dir), '--out-json', out_dir],
            osp.join(out_dir + '.out'))
    with open(metrics_file) as f:
        return json.load(f)['metrics']


def table(rows: dict) -> str:
    lines = ['| model | ' + ' | '.join(COLUMNS) + ' |', '|---|' + '---|' * len(COLUMNS)]
    for name, metrics in rows.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{metrics.get("NuScenes/" + c, float("nan")):.4f}'
                                                for c in COLUMNS) + ' |')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.time()
    wd = args.work_dir
    teacher_dir = osp.join(wd, 'centerpoint_lidar_cpu')
    student_dir = osp.join(wd, 'bevdepth_cam_cpu')
    distill_dir = osp.join(wd, 'unidistill_lidar2cam_cpu')
    print(f'1/4 LiDAR teacher, {args.teacher_epochs} epochs', flush=True)
    teacher_ckpt = train(TEACHER, teacher_dir, args.teacher_epochs, args)
    print(f'2/4 camera student alone, {args.epochs} epochs', flush=True)
    student_ckpt = train(STUDENT, student_dir, args.epochs, args)
    print(f'3/4 camera student distilled from the LiDAR teacher, {args.epochs} epochs', flush=True)
    distill_ckpt = train(DISTILL, distill_dir, args.epochs, args,
                         extra=[f'model.teacher_ckpt={teacher_ckpt}'])
    exported = osp.splitext(distill_ckpt)[0] + '_student.pth'
    if not osp.isfile(exported) or osp.getmtime(exported) < osp.getmtime(distill_ckpt):
        run([sys.executable, 'tools/export_student.py', DISTILL, distill_ckpt, '--out', exported,
             '--force'], osp.join(distill_dir, 'export.out'))
    print('4/4 evaluation (nuscenes-devkit DetectionEval, val split)', flush=True)
    rows = {
        f'LiDAR teacher ({args.teacher_epochs} ep)': test(
            TEACHER, teacher_ckpt, osp.join(teacher_dir, 'test'), args
        ),
        f'camera alone ({args.epochs} ep)': test(
            STUDENT, student_ckpt, osp.join(student_dir, 'test'), args
        ),
        f'camera distilled ({args.epochs} ep)': test(
            STUDENT, exported, osp.join(distill_dir, 'test'), args
        ),
    }
    text = table(rows)
    print(text)
    with open(osp.join(wd, 'results.md'), 'w') as f:
        f.write(text + '\n')
    print(
        f'demo finished in {(time.time() - start) / 60:.1f} min; '
        f'table in {osp.join(wd, "results.md")}'
    )
    return rows


if __name__ == '__main__':
    main()
