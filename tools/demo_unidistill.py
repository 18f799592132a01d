#!/usr/bin/env python
"""The distillation stories on the synthetic set: a teacher, a student alone and the same
student distilled, the official metric, the gain.

Stories (``--story``; ``make demo DEMO=<story>``):

- ``unidistill`` (default): LiDAR teacher (``configs/centerpoint_lidar_cpu.py``, 12 epochs,
  stored in ``demo/``) -> the demo-sized camera student (``configs/demo_cam_cpu.py`` alone,
  ``configs/demo_lidar2cam_cpu.py`` distilled, 10 epochs each, side by side);
- ``fusion2lidar``: the LiDAR detector, then the fusion teacher started from it
  (``configs/bevfusion_cpu_lidarinit.py``, as in docs/results.md) -> LiDAR student
  (``configs/centerpoint_lidar_cpu.py`` alone, ``configs/unidistill_fusion2lidar_cpu.py``);
- ``xray``: Object-Complete Frames (``tools/make_ocf.py --skip-empty``), a teacher trained
  on them (``configs/xray_teacher_centerpoint_cpu.py``) -> the same detector on raw frames
  (``configs/centerpoint_lidar_cpu.py`` alone, ``configs/xray_distill_centerpoint_cpu.py``).

Each training and evaluation runs the project's tools in a subprocess, with a progress bar
read from the run itself (iterations, ETA, loss; ``perception_kd.engine.progress_view``),
its log under ``--work-dir/<story>/<config>/``, and the command that re-runs it alone if it
fails. Both students get the same seed and schedule and train side by side (``--jobs``);
the schedules (``--epochs``, ``--teacher-epochs``; each story has its defaults) are
sized so a story fits a laptop CPU. The distilled student is
exported (``tools/export_student.py``) and evaluated with the student's own config. The
final table has the teacher and both students on the devkit metric, the gain (distilled
minus alone, in mAP and NDS points), one line of reading and the time of every step.

A step whose result exists is skipped, so a second run only prints the table (``--force``
retrains). ``--teacher-checkpoint PATH`` uses a stored teacher instead of training it, if
its record (``PATH.json``: sha256, command, config, options, seeds, world) matches this run
and this world; otherwise it says why and trains the teacher. ``--save-teacher PATH``
stores the teacher with that record (``perception_kd.utils.stored_checkpoint``).

Example:
    python tools/demo_unidistill.py --data-root data/nuscenes/ --story xray
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from dataclasses import dataclass, field

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from perception_kd.engine.progress_view import (  # noqa: E402
    Job,
    StepFailed,
    StepResult,
    format_duration,
    format_summary,
    run_lanes,
    run_with_progress,
)
from perception_kd.utils.cli import ToolError, tool_errors  # noqa: E402
from perception_kd.utils.stored_checkpoint import (  # noqa: E402
    save_stored_checkpoint,
    verify_stored_checkpoint,
)

PROG = 'demo_unidistill.py'
COLUMNS = ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE')
OCF_SUFFIX = '_ocf_skip'
# the unidistill story's LiDAR teacher, stored with its record (see docs/results.md)
STORED_TEACHER = 'demo/centerpoint_lidar_cpu_12e.pth'
OCF_OUT = 'samples/LIDAR_TOP_OCF_skip'


@dataclass
class Run:
    """One training of a story."""
    config: str
    label: str
    options: list = field(default_factory=list)   # extra --cfg-options
    suffix: str = ''                               # work dir = <config stem><suffix>
    eval_config: str | None = None                 # evaluate with this config (default: own)
    eval_options: list = field(default_factory=list)

    @property
    def stem(self) -> str:
        return osp.splitext(osp.basename(self.config))[0] + self.suffix


@dataclass
class Story:
    title: str
    teacher: Run
    alone: Run
    distill: Run
    teacher_row: str
    measured: str                     # what docs/results.md measured, for the reading
    lidar_init: Run | None = None     # fusion2lidar: the LiDAR weights the teacher starts from
    ocf: bool = False                 # xray: build OCFs first
    epochs: int = 2                   # default --epochs (students)
    teacher_epochs: int = 3           # default --teacher-epochs
    stored_teacher: str | None = None  # default --teacher-checkpoint (when the file exists)


def _ocf_infos(*loaders: str) -> list:
    return [f'{loader}.dataset.ann_file=nuscenes_infos_{split}{OCF_SUFFIX}.pkl'
            for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'),
                                  ('test_dataloader', 'val')) if loader in loaders]


STORIES = {
    'unidistill': Story(
        title='LiDAR teacher -> camera student (UniDistill)',
        teacher=Run('configs/centerpoint_lidar_cpu.py', 'LiDAR teacher'),
        alone=Run('configs/demo_cam_cpu.py', 'camera student alone'),
        distill=Run('configs/demo_lidar2cam_cpu.py', 'camera student distilled',
                    eval_config='configs/demo_cam_cpu.py'),
        epochs=10, teacher_epochs=12, stored_teacher=STORED_TEACHER,
        teacher_row='LiDAR teacher',
        measured='docs/results.md ("The demo setting") measured this very setting over 3 '
                 'seeds: -0.3 mAP, 95 % interval -3.4 to +2.8, i.e. no gain at this budget; '
                 'the gain it measured is +6.9 mAP over 2 seeds with the full-size student '
                 'on a longer GPU schedule'),
    'fusion2lidar': Story(
        title='fusion (LiDAR + camera) teacher -> LiDAR student (UniDistill)',
        lidar_init=Run('configs/centerpoint_lidar_cpu.py', 'LiDAR weights for the fusion teacher',
                       suffix='_fusion_init'),
        teacher=Run('configs/bevfusion_cpu_lidarinit.py', 'fusion teacher'),
        alone=Run('configs/centerpoint_lidar_cpu.py', 'LiDAR student alone'),
        distill=Run('configs/unidistill_fusion2lidar_cpu.py', 'LiDAR student distilled',
                    eval_config='configs/centerpoint_lidar_cpu.py'),
        teacher_row='fusion teacher',
        measured='docs/results.md ("UniDistill fusion -> LiDAR") measured +7.8 mAP over 4 seeds '
                 'at 6 epochs with a teacher trained 18 epochs in all (about two standard '
                 'errors)'),
    'xray': Story(
        title='OCF teacher -> raw-frame LiDAR student (X-Ray distillation)',
        ocf=True,
        teacher=Run('configs/xray_teacher_centerpoint_cpu.py', 'OCF teacher',
                    options=_ocf_infos('train_dataloader', 'val_dataloader', 'test_dataloader'),
                    eval_options=_ocf_infos('val_dataloader', 'test_dataloader')),
        alone=Run('configs/centerpoint_lidar_cpu.py', 'raw student alone'),
        distill=Run('configs/xray_distill_centerpoint_cpu.py', 'raw student distilled',
                    options=_ocf_infos('train_dataloader'),
                    eval_config='configs/centerpoint_lidar_cpu.py'),
        teacher_row='OCF teacher, on OCFs',
        measured='docs/results.md ("X-Ray distillation", b) measured +1.5 mAP over 4 seeds at '
                 '6 epochs with a 12-epoch teacher, within the seed spread (-4 to +8)'),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--story', choices=sorted(STORIES), default='unidistill',
                        help='which teacher -> student story (default: unidistill)')
    parser.add_argument(
        '--data-root', default='data/nuscenes/', help='nuScenes-format root with infos'
    )
    parser.add_argument('--version', default='v1.0-mini', help='dataset version (xray: OCFs)')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='runs go to <work-dir>/<story>/<config>/')
    parser.add_argument('--epochs', type=int, default=None,
                        help='epochs of each student (default: the story\'s)')
    parser.add_argument('--teacher-epochs', type=int, default=None,
                        help='epochs of the teacher (default: the story\'s)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the students')
    parser.add_argument('--teacher-seed', type=int, default=0, help='seed of the teacher')
    parser.add_argument('--jobs', type=int, choices=(1, 2), default=2,
                        help='2 (default): the two students train side by side, the '
                        'evaluations of the teacher and the student alone beside the distilled '
                        'training; 1: one step after the other')
    parser.add_argument('--threads', type=int, default=None,
                        help='OMP_NUM_THREADS of each process in the student phase (default: '
                        'the CPU count divided by --jobs; with --jobs 1, the environment\'s)')
    parser.add_argument('--force', action='store_true', help='retrain even if results exist')
    parser.add_argument('--teacher-checkpoint', metavar='PATH',
                        help='a stored teacher (PATH + PATH.json record) used instead of '
                        'training it, when its record matches this run and world (default: '
                        'the story\'s stored teacher, if any)')
    parser.add_argument('--teacher-only', action='store_true',
                        help='stop after the teacher (with --save-teacher: make a stored one)')
    parser.add_argument('--no-stored-teacher', action='store_true',
                        help='train the teacher even if the story has a stored one')
    parser.add_argument('--save-teacher', metavar='PATH',
                        help='store the teacher at PATH with its record PATH.json')
    return parser.parse_args(argv)


def at_repo(path: str) -> str:
    """``path`` as the subprocesses (run in the repository) see it."""
    return osp.join(REPO, path)


def repo_relative(path: str | None) -> str | None:
    """A path given on the command line (relative to the current folder) made relative to
    the repository when inside it, absolute otherwise; a trailing slash is kept."""
    if path is None:
        return None
    full = osp.abspath(path)
    inside = osp.commonpath([full, REPO]) == REPO
    out = osp.relpath(full, REPO) if inside else full
    return out + '/' if path.endswith('/') and not out.endswith('/') else out


def schedule_options(epochs: int) -> list:
    """--cfg-options that shorten the cpu_short schedule (warmup epoch + cosine)."""
    if epochs < 2:
        raise ToolError('--epochs/--teacher-epochs must be >= 2 (one warmup epoch + at least '
                        f'one cosine epoch), got {epochs}')
    return [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
            f'param_scheduler.1.end={epochs}', f'param_scheduler.1.T_max={epochs - 1}']


class Demo:
    """The steps of one story, with their progress, skipping and timing."""

    def __init__(self, args):
        self.args = args
        self.story = STORIES[args.story]
        self.wd = osp.join(args.work_dir, args.story)
        self.steps: list[StepResult] = []
        self.index = 0
        self.total = self._count_steps()
        # threads of each process in the student phase (None: the environment's default)
        self.threads = args.threads or (
            max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else None)

    def _count_steps(self) -> int:
        s = self.story
        return 3 + bool(s.lidar_init) + bool(s.ocf) + 1 + 3    # trainings, export, evaluations

    def label(self, text: str) -> str:
        self.index += 1
        return f'{self.index}/{self.total} {text}'

    def skip(self, label: str, what: str) -> None:
        print(f'{label}: [skip] {what} exists', flush=True)
        self.steps.append(StepResult(label, 0.0, None, 'skipped'))

    def step(self, cmd: list, log: str, label: str) -> None:
        print(f'{label}\n  $ {" ".join(cmd)}', flush=True)
        run_with_progress(cmd, log, label, cwd=REPO, steps=self.steps)

    def job(self, cmd: list, log: str, label: str) -> Job:
        """A step to run later in a lane (the student phase), on ``--threads`` threads."""
        env = dict(OMP_NUM_THREADS=self.threads) if self.threads else None
        return Job(cmd, log, label, env, announce=f'{label}\n  $ {" ".join(cmd)}')

    def train_options(self, run: Run, epochs: int, extra=()) -> list:
        seed = self.args.teacher_seed if run in (self.story.teacher, self.story.lidar_init) \
            else self.args.seed
        return [f'randomness.seed={seed}', *schedule_options(epochs), *run.options, *extra]

    def train_command(self, run: Run, epochs: int, extra=()) -> list:
        work_dir = osp.join(self.wd, run.stem)
        # no validation inside training: evaluation is the separate test step
        return [sys.executable, 'tools/train.py', run.config, '--work-dir', work_dir,
                '--data-root', self.args.data_root, '--cfg-options',
                *self.train_options(run, epochs, extra), f'+train_cfg.val_begin={epochs + 1}']

    def train(self, run: Run, epochs: int, extra=()) -> str:
        """Train unless the work dir holds the final checkpoint; return that checkpoint."""
        job, final = self.train_job(run, epochs, extra)
        if job is not None:
            self.step(job.cmd, job.log, job.label)
            self.check_output(final)
        return final

    def train_job(self, run: Run, epochs: int, extra=()) -> tuple:
        """(the training job, or None when its final checkpoint exists; that checkpoint)."""
        work_dir = osp.join(self.wd, run.stem)
        final = osp.join(work_dir, f'epoch_{epochs}.pth')
        label = self.label(f'{run.label}, {epochs} epochs')
        if osp.isfile(at_repo(final)) and not self.args.force:
            self.skip(label, final)
            return None, final
        return self.job(self.train_command(run, epochs, extra),
                        at_repo(osp.join(work_dir, 'train.out')), label), final

    @staticmethod
    def check_output(path: str) -> None:
        if not osp.isfile(at_repo(path)):
            raise SystemExit(f'{PROG}: error: the step finished without writing {path}')

    def make_ocf(self) -> None:
        label = self.label('Object-Complete Frames (tools/make_ocf.py --skip-empty)')
        root = self.args.data_root
        infos = [osp.join(root, f'nuscenes_infos_{s}{OCF_SUFFIX}.pkl') for s in ('train', 'val')]
        if all(osp.isfile(at_repo(p)) for p in infos) and not self.args.force:
            self.skip(label, ' and '.join(infos))
            return
        cmd = [sys.executable, 'tools/make_ocf.py', root, '--version', self.args.version,
               '--out', OCF_OUT, '--info-suffix', OCF_SUFFIX, '--skip-empty', '--no-progress']
        self.step(cmd, at_repo(osp.join(self.wd, 'make_ocf.out')), label)

    def teacher(self) -> str:
        """The teacher's checkpoint: a verified stored one, or trained here."""
        s, args = self.story, self.args
        extra = []
        if s.lidar_init is not None and args.teacher_checkpoint is None:
            init = self.train(s.lidar_init, args.teacher_epochs)
            extra = [f'load_from={init}']
        elif s.lidar_init is not None:
            init = osp.join(self.wd, s.lidar_init.stem, f'epoch_{args.teacher_epochs}.pth')
            extra = [f'load_from={init}']
        options = self.train_options(s.teacher, args.teacher_epochs, extra)
        if args.teacher_checkpoint:
            problem = verify_stored_checkpoint(
                at_repo(args.teacher_checkpoint), config=s.teacher.config, options=options,
                train_seed=args.teacher_seed, data_root=at_repo(args.data_root))
            if problem is None:
                print(f'[stored teacher] {args.teacher_checkpoint}: sha256, config, options, '
                      'seed and world match its record; not training the teacher', flush=True)
                self.index += bool(s.lidar_init)
                label = self.label(f'{s.teacher.label} (stored, verified)')
                self.steps.append(StepResult(label, 0.0, None, 'skipped'))
                return args.teacher_checkpoint
            print(f'[stored teacher] not using {args.teacher_checkpoint}: {problem}; training '
                  'the teacher instead', flush=True)
            if s.lidar_init is not None:
                init = self.train(s.lidar_init, args.teacher_epochs)
        ckpt = self.train(s.teacher, args.teacher_epochs, extra)
        if args.save_teacher:
            cmd = self.train_command(s.teacher, args.teacher_epochs, extra)
            record = save_stored_checkpoint(
                at_repo(ckpt), at_repo(args.save_teacher), command=['python', *cmd[1:]],
                config=s.teacher.config, options=options, train_seed=args.teacher_seed,
                data_root=at_repo(args.data_root), weights_only=True)
            print(f'[stored teacher] {args.save_teacher} (sha256 {record["sha256"][:12]}..., '
                  f'data seed {record["data_seed"]}, record {args.save_teacher}.json)', flush=True)
        return ckpt

    def export_job(self, checkpoint: str, rerun: bool) -> tuple:
        """(the export job or None, the exported student); ``rerun``: its input is remade."""
        run = self.story.distill
        exported = osp.splitext(checkpoint)[0] + '_student.pth'
        label = self.label('export the distilled student (tools/export_student.py)')
        if not rerun and osp.isfile(at_repo(exported)) and not self.args.force and \
                osp.getmtime(at_repo(exported)) >= osp.getmtime(at_repo(checkpoint)):
            self.skip(label, exported)
            return None, exported
        return self.job([sys.executable, 'tools/export_student.py', run.config, checkpoint,
                         '--out', exported, '--force'],
                        at_repo(osp.join(self.wd, run.stem, 'export.out')), label), exported

    def test_job(self, run: Run, checkpoint: str, out_dir: str, what: str,
                 rerun: bool) -> tuple:
        """(the evaluation job or None, its metrics file); ``rerun``: the checkpoint is
        remade in this run, so earlier metrics are stale."""
        metrics_file = osp.join(out_dir, 'metrics.json')
        label = self.label(f'evaluate the {what} (devkit DetectionEval, val split)')
        if not rerun and self._fresh(metrics_file, checkpoint) and not self.args.force:
            self.skip(label, metrics_file)
            return None, metrics_file
        cmd = [sys.executable, 'tools/test.py', run.eval_config or run.config, checkpoint,
               '--data-root', self.args.data_root, '--work-dir', osp.dirname(out_dir),
               '--out-json', out_dir]
        if run.eval_options:
            cmd += ['--cfg-options', *run.eval_options]
        return self.job(cmd, at_repo(out_dir + '.out'), label), metrics_file

    @staticmethod
    def metrics(metrics_file: str) -> dict:
        with open(at_repo(metrics_file)) as f:
            return json.load(f)['metrics']

    @staticmethod
    def _fresh(metrics_file: str, checkpoint: str) -> bool:
        """Metrics of this very checkpoint, written after it."""
        metrics_file, checkpoint = at_repo(metrics_file), at_repo(checkpoint)
        if not osp.isfile(metrics_file) or osp.getmtime(metrics_file) < osp.getmtime(checkpoint):
            return False
        try:
            with open(metrics_file) as f:
                recorded = json.load(f).get('checkpoint')
        except (OSError, ValueError):
            return False
        return recorded is None or osp.normpath(at_repo(recorded)) == osp.normpath(checkpoint)

    def run(self) -> dict:
        s, args = self.story, self.args
        print(f'story "{args.story}": {s.title}; runs in {self.wd}', flush=True)
        if s.ocf:
            self.make_ocf()
        teacher_ckpt = self.teacher()
        if args.teacher_only:
            return {}
        # two lanes: the student alone and its evaluations (the teacher's too) beside the
        # distilled student, its export and evaluation; with --jobs 1 one after the other
        alone_train, alone_ckpt = self.train_job(s.alone, args.epochs)
        distill_train, distill_ckpt = self.train_job(
            s.distill, args.epochs, [f'model.teacher_ckpt={teacher_ckpt}'])
        export, exported = self.export_job(distill_ckpt, rerun=distill_train is not None)
        tests = [
            self.test_job(s.teacher, teacher_ckpt, osp.join(self.wd, s.teacher.stem, 'test'),
                          'teacher', rerun=False),   # trained before: _fresh sees it
            self.test_job(s.alone, alone_ckpt, osp.join(self.wd, s.alone.stem, 'test'),
                          'student alone', rerun=alone_train is not None),
            self.test_job(s.distill, exported, osp.join(self.wd, s.distill.stem, 'test'),
                          'distilled student', rerun=export is not None)]
        lanes = [[j for j in (alone_train, tests[0][0], tests[1][0]) if j],
                 [j for j in (distill_train, export, tests[2][0]) if j]]
        if args.jobs == 1:
            lanes = [lanes[0] + lanes[1]]
        lanes = [lane for lane in lanes if lane]
        if lanes:
            if len(lanes) > 1:
                print(f'the two students side by side ({len(lanes)} processes, '
                      f'OMP_NUM_THREADS={self.threads} each)', flush=True)
            run_lanes(lanes, cwd=REPO, steps=self.steps)
        for path in (alone_ckpt, distill_ckpt, exported):
            self.check_output(path)
        return {
            f'{s.teacher_row} ({args.teacher_epochs} ep)': self.metrics(tests[0][1]),
            f'{s.alone.label} ({args.epochs} ep)': self.metrics(tests[1][1]),
            f'{s.distill.label} ({args.epochs} ep)': self.metrics(tests[2][1]),
        }


def table(rows: dict) -> str:
    lines = ['| model | ' + ' | '.join(COLUMNS) + ' |', '|---|' + '---|' * len(COLUMNS)]
    for name, metrics in rows.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{metrics.get("NuScenes/" + c, float("nan")):.4f}'
                                                for c in COLUMNS) + ' |')
    return '\n'.join(lines)


def gain(rows: dict) -> tuple:
    """(mAP, NDS) of the distilled student minus the student alone, in points (x100)."""
    alone, distilled = list(rows.values())[1:3]
    return tuple(100 * (distilled.get(f'NuScenes/{m}', float('nan')) -
                        alone.get(f'NuScenes/{m}', float('nan'))) for m in ('mAP', 'NDS'))


def reading(story: Story, gain_map: float, seed: int) -> str:
    """One line: what this run shows and what it does not."""
    if gain_map != gain_map:
        where = 'no comparison (a metric is missing)'
    elif abs(gain_map) < 0.05:
        where = 'level with the student alone'
    else:
        where = f'{"ahead of" if gain_map > 0 else "behind"} the student alone by ' \
                f'{abs(gain_map):.1f} mAP points'
    return (f'Reading: in this run (seed {seed}, short schedules) the distilled student is '
            f'{where}; one seed is an example, not a measurement: {story.measured}.')


def check_setup(args) -> None:
    """The demo's own inputs, before any step runs (a failing step reports itself)."""
    root = at_repo(args.data_root)
    if not osp.isdir(root):
        raise ToolError(f'data root {root} does not exist (--data-root; `make data` builds the '
                        'synthetic demo set at data/nuscenes)')
    schedule_options(args.epochs)
    schedule_options(args.teacher_epochs)
    work = at_repo(args.work_dir)
    if osp.exists(work) and not osp.isdir(work):
        raise ToolError(f'work dir {work} is a file, not a folder (--work-dir)')


def story_defaults(args) -> None:
    """Fill the options left unset from the story: schedules and its stored teacher."""
    story = STORIES[args.story]
    if args.epochs is None:
        args.epochs = story.epochs
    if args.teacher_epochs is None:
        args.teacher_epochs = story.teacher_epochs
    if args.teacher_checkpoint is None and story.stored_teacher and \
            not args.no_stored_teacher and osp.isfile(at_repo(story.stored_teacher)):
        args.teacher_checkpoint = story.stored_teacher


def main(argv=None) -> dict:
    args = parse_args(argv)
    for name in ('data_root', 'work_dir', 'teacher_checkpoint', 'save_teacher'):
        setattr(args, name, repo_relative(getattr(args, name)))
    story_defaults(args)
    with tool_errors(PROG):
        check_setup(args)
    start = time.time()
    demo = Demo(args)
    try:
        rows = demo.run()
    except StepFailed as exc:
        print(format_summary(demo.steps))
        raise SystemExit(f'{PROG}: error: step "{exc.result.label}" failed (see above)') from exc
    if args.teacher_only:
        print(format_summary(demo.steps))
        return rows
    gain_map, gain_nds = gain(rows)
    text = '\n'.join([
        f'Story "{args.story}": {demo.story.title}', '', table(rows), '',
        f'Gain (distilled minus alone): {gain_map:+.1f} mAP points, {gain_nds:+.1f} NDS points',
        reading(demo.story, gain_map, args.seed), '',
        'Time per step:', format_summary(demo.steps, wall=time.time() - start)])
    print(text)
    results = at_repo(osp.join(demo.wd, 'results.md'))
    os.makedirs(osp.dirname(results), exist_ok=True)
    with open(results, 'w') as f:
        f.write(text + '\n')
    print(f'demo finished in {format_duration(time.time() - start)}; table in {results}')
    return rows


if __name__ == '__main__':
    main()
