"""tools/demo_unidistill.py without training: its --cfg-options exist in the configs it
trains, each story's steps run in order, skip finished work and print the table with the
gain, and a stored teacher is used only when its record matches."""
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, load_tool  # noqa: E402

from perception_kd.engine import check_cfg_options, load_config  # noqa: E402
from perception_kd.engine.progress_view import StepResult  # noqa: E402
from perception_kd.utils.cli import ToolError  # noqa: E402


def _options(items):
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *items]).o


@pytest.mark.parametrize('story', ['unidistill', 'fusion2lidar', 'xray'])
def test_options_exist_in_every_config_of_the_story(story):
    demo = load_tool('demo_unidistill')
    s = demo.STORIES[story]
    runs = [r for r in (s.lidar_init, s.teacher, s.alone, s.distill) if r is not None]
    for run in runs:
        cfg = load_config(str(REPO / run.config))
        extra = ['model.teacher_ckpt=x'] if run is s.distill else \
            ['load_from=x'] if run is s.teacher and s.lidar_init else []
        options = _options([*demo.schedule_options(3), 'randomness.seed=1', *run.options,
                            *extra])
        check_cfg_options(cfg, options)  # raises on an unknown key
        cfg.merge_from_dict(options)
        assert cfg.train_cfg.max_epochs == 3 and cfg.param_scheduler[1].end == 3
        if run.eval_options:
            eval_cfg = load_config(str(REPO / (run.eval_config or run.config)))
            check_cfg_options(eval_cfg, _options(run.eval_options))
    assert load_config(str(REPO / s.distill.eval_config)).model.type != 'Distiller'
    with pytest.raises(ToolError, match='>= 2'):
        demo.schedule_options(1)


class FakeTools:
    """Stands in for run_with_progress: writes what each tool would write."""

    def __init__(self, map_alone=0.25, map_distilled=0.30):
        self.calls = []
        self.maps = dict(alone=map_alone, distilled=map_distilled)

    def __call__(self, cmd, log, label, cwd=None, steps=None, **kwargs):
        self.calls.append(cmd)
        tool = Path(cmd[1]).name
        at = Path(cwd)
        if tool == 'train.py':
            work_dir = at / cmd[cmd.index('--work-dir') + 1]
            epochs = next(
                int(a.split('=')[1]) for a in cmd if a.startswith('train_cfg.max_epochs=')
            )
            work_dir.mkdir(parents=True, exist_ok=True)
            # a real (tiny) checkpoint: a stored teacher keeps its weights
            torch.save(dict(state_dict=dict(w=torch.tensor([float(len(self.calls))])),
                            optimizer=dict(lr=1.0), meta=dict(epoch=epochs, cfg=cmd[2])),
                       work_dir / f'epoch_{epochs}.pth')
        elif tool == 'export_student.py':
            (at / cmd[cmd.index('--out') + 1]).write_bytes(b'x')
        elif tool == 'make_ocf.py':
            root = at / cmd[2]
            for split in ('train', 'val'):
                (root / f'nuscenes_infos_{split}_ocf_skip.pkl').write_bytes(b'x')
        elif tool == 'test.py':
            out = at / cmd[cmd.index('--out-json') + 1]
            out.mkdir(parents=True, exist_ok=True)
            kind = 'distilled' if cmd[3].endswith('_student.pth') else 'alone'
            (out / 'metrics.json').write_text(json.dumps(dict(checkpoint=cmd[3], metrics={
                'NuScenes/mAP': self.maps[kind], 'NuScenes/NDS': 0.5})))
        steps.append(StepResult(label, 1.0, log))
        return steps[-1]

    def lanes(self, lanes, cwd=None, steps=None, **kwargs):
        """Stands in for run_lanes: the lanes one after the other, their shape recorded."""
        self.lane_tools.append([[Path(job.cmd[1]).name for job in lane] for lane in lanes])
        self.envs += [job.env for lane in lanes for job in lane]
        return [self(job.cmd, job.log, job.label, cwd=cwd, steps=steps)
                for lane in lanes for job in lane]

    def install(self, monkeypatch, demo):
        self.lane_tools, self.envs = [], []
        monkeypatch.setattr(demo, 'run_with_progress', self)
        monkeypatch.setattr(demo, 'run_lanes', self.lanes)

    def tools(self):
        return [Path(c[1]).name for c in self.calls]


@pytest.mark.parametrize('story,first', [('unidistill', []), ('fusion2lidar', ['train.py']),
                                         ('xray', ['make_ocf.py'])])
def test_steps_skip_finished_work_and_print_the_gain(tmp_path, monkeypatch, capsys, story,
                                                     first):
    demo = load_tool('demo_unidistill')
    fake = FakeTools()
    fake.install(monkeypatch, demo)
    root = tmp_path / 'data'
    root.mkdir()
    args = ['--story', story, '--work-dir', str(tmp_path / 'wd'), '--data-root', f'{root}/',
            '--epochs', '2', '--teacher-epochs', '3', '--threads', '1', '--no-stored-teacher']
    rows = demo.main(args)
    # the teacher first; then two lanes side by side: the student alone and the
    # evaluations of the teacher and of it, beside the distilled student, export, evaluation
    assert fake.lane_tools == [[['train.py', 'test.py', 'test.py'],
                                ['train.py', 'export_student.py', 'test.py']]]
    assert fake.envs == [dict(OMP_NUM_THREADS=1)] * 6
    assert fake.tools() == first + ['train.py'] * 2 + ['test.py'] * 2 + ['train.py'] + \
        ['export_student.py', 'test.py']
    s = demo.STORIES[story]
    teacher_ckpt = f'{tmp_path}/wd/{story}/{s.teacher.stem}/epoch_3.pth'
    distill = fake.calls[len(first) + 4]
    assert distill[2] == s.distill.config and f'model.teacher_ckpt={teacher_ckpt}' in distill
    if story == 'fusion2lidar':      # the fusion teacher starts from the LiDAR run
        init = f'{tmp_path}/wd/{story}/centerpoint_lidar_cpu_fusion_init/epoch_3.pth'
        assert f'load_from={init}' in fake.calls[1]
    assert fake.calls[-1][2] == s.distill.eval_config
    assert fake.calls[-1][3].endswith('epoch_2_student.pth')
    out = capsys.readouterr().out
    assert len(rows) == 3 and f'| {s.distill.label} (2 ep) | 0.3000 | 0.5000 |' in out
    assert 'Gain (distilled minus alone): +5.0 mAP points, +0.0 NDS points' in out
    assert 'ahead of the student alone by 5.0 mAP points' in out and 'docs/results.md' in out
    assert '| **total** |' in out and '| **wall time** (steps side by side) |' in out
    assert (tmp_path / 'wd' / story / 'results.md').is_file()
    fake.calls.clear()
    demo.main(args)           # everything is there: nothing runs again
    assert fake.calls == []
    assert '[skip]' in capsys.readouterr().out
    # a retrained student alone: its evaluation runs again, nothing of the other lane
    (tmp_path / 'wd' / story / s.alone.stem / 'epoch_2.pth').unlink()
    demo.main([*args, '--jobs', '1'])
    assert fake.lane_tools[-1] == [['train.py', 'test.py']]


def test_stored_teacher_is_verified_before_use(tmp_path, monkeypatch, capsys, tiny_root,
                                               tiny_infos):
    demo = load_tool('demo_unidistill')
    fake = FakeTools()
    fake.install(monkeypatch, demo)
    stored = tmp_path / 'stored' / 'teacher.pth'
    common = ['--data-root', f'{tiny_root}/', '--epochs', '2', '--teacher-epochs', '3']
    demo.main(['--work-dir', str(tmp_path / 'a'), '--save-teacher', str(stored),
               '--teacher-only', '--no-stored-teacher', *common])
    assert fake.tools() == ['train.py']          # --teacher-only: nothing after the teacher
    record = json.loads(Path(f'{stored}.json').read_text())
    assert record['config'] == 'configs/centerpoint_lidar_cpu.py' and record['data_seed'] == 7
    assert record['command'].startswith('python tools/train.py configs/centerpoint_lidar_cpu.py')
    assert 'train_cfg.max_epochs=3' in record['options']

    # a fresh work dir with the stored teacher: the teacher is not trained
    fake.calls.clear()
    capsys.readouterr()
    demo.main(['--work-dir', str(tmp_path / 'b'), '--teacher-checkpoint', str(stored), *common])
    assert sorted(fake.tools()) == ['export_student.py'] + ['test.py'] * 3 + ['train.py'] * 2
    assert f'model.teacher_ckpt={stored}' in fake.calls[3]
    out = capsys.readouterr().out
    assert 'seed and world match its record' in out
    assert '| 1/7 LiDAR teacher (stored, verified) | 0:00 | skipped |' in out

    # the story's own stored teacher is the default (--no-stored-teacher trains one)
    import dataclasses
    story = dataclasses.replace(demo.STORIES['unidistill'], stored_teacher=str(stored))
    monkeypatch.setitem(demo.STORIES, 'unidistill', story)
    fake.calls.clear()
    demo.main(['--work-dir', str(tmp_path / 'd'), *common])
    assert 'seed and world match its record' in capsys.readouterr().out
    assert f'model.teacher_ckpt={stored}' in fake.calls[3]
    fake.calls.clear()
    demo.main(['--work-dir', str(tmp_path / 'e'), '--no-stored-teacher', *common])
    assert fake.calls[0][2] == 'configs/centerpoint_lidar_cpu.py'
    capsys.readouterr()

    # another teacher schedule, or a changed file: said, and the teacher is trained
    for extra, why in ((['--teacher-epochs', '4'], 'other options'), ([], 'sha256')):
        if not extra:
            stored.write_bytes(b'tampered')
        fake.calls.clear()
        demo.main(['--work-dir', str(tmp_path / f'c{len(extra)}'), '--teacher-checkpoint',
                   str(stored), *common, *extra])
        out = capsys.readouterr().out
        assert f'not using {stored}' in out and why in out and 'training the teacher' in out
        assert fake.calls[0][2] == 'configs/centerpoint_lidar_cpu.py'
        assert f'model.teacher_ckpt={stored}' not in ' '.join(map(str, fake.calls[4]))


def test_the_stored_demo_teacher_matches_its_record_and_the_story_defaults():
    """The teacher kept in the repository is whole, and is the one the default story asks
    for (changing the story's teacher schedule or config without re-storing it fails
    here, instead of the demo silently retraining it)."""
    from perception_kd.utils.stored_checkpoint import file_sha256, read_record
    demo = load_tool('demo_unidistill')
    story = demo.STORIES['unidistill']
    path = REPO / story.stored_teacher
    record = read_record(str(path))
    assert record is not None and file_sha256(str(path)) == record['sha256']
    assert record['size'] == path.stat().st_size
    assert record['config'] == story.teacher.config and record['train_seed'] == 0
    args = demo.parse_args([])
    demo.story_defaults(args)
    assert args.teacher_checkpoint == story.stored_teacher
    expected = demo.Demo(args).train_options(story.teacher, args.teacher_epochs)
    assert record['options'] == expected
    assert record['data_seed'] == 0     # make data's world (Makefile DEMO_ARGS --seed 0)
