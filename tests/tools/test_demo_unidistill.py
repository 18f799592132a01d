"""tools/demo_unidistill.py without training: its --cfg-options exist in the configs it
trains, and its steps run in order, skip finished work and print the table."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, load_tool  # noqa: E402

from perception_kd.engine import check_cfg_options, load_config  # noqa: E402


def test_schedule_options_exist_in_every_demo_config():
    demo = load_tool('demo_unidistill')
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    for config in (demo.TEACHER, demo.STUDENT, demo.DISTILL):
        cfg = load_config(str(REPO / config))
        options = parser.parse_args(['--o', *demo.schedule_options(3), 'randomness.seed=1',
                                     'model.teacher_ckpt=x' if config == demo.DISTILL else
                                     'randomness.seed=1']).o
        check_cfg_options(cfg, options)  # raises on an unknown key
        cfg.merge_from_dict(options)
        assert cfg.train_cfg.max_epochs == 3 and cfg.param_scheduler[1].end == 3
    with pytest.raises(SystemExit, match='>= 2'):
        demo.schedule_options(1)


def test_steps_skip_finished_work_and_print_the_table(tmp_path, monkeypatch, capsys):
    demo = load_tool('demo_unidistill')
    calls = []

    def fake_run(cmd, log):
        calls.append(cmd)
        tool = Path(cmd[1]).name
        if tool == 'train.py':
            work_dir = Path(cmd[cmd.index('--work-dir') + 1])
            epochs = next(
                int(a.split('=')[1]) for a in cmd if a.startswith('train_cfg.max_epochs=')
            )
            work_dir.mkdir(parents=True, exist_ok=True)
            (work_dir / f'epoch_{epochs}.pth').write_bytes(b'x')
        elif tool == 'export_student.py':
            Path(cmd[cmd.index('--out') + 1]).write_bytes(b'x')
        elif tool == 'test.py':
            out = Path(cmd[cmd.index('--out-json') + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / 'metrics.json').write_text(
                json.dumps(dict(metrics={'NuScenes/mAP': 0.25, 'NuScenes/NDS': 0.5}))
            )

    monkeypatch.setattr(demo, 'run', fake_run)
    args = ['--work-dir', str(tmp_path), '--epochs', '2', '--teacher-epochs', '3']
    rows = demo.main(args)
    tools = [Path(c[1]).name for c in calls]
    assert tools == ['train.py'] * 3 + ['export_student.py'] + ['test.py'] * 3
    distill = calls[2]
    assert distill[2] == demo.DISTILL
    assert f'model.teacher_ckpt={tmp_path}/centerpoint_lidar_cpu/epoch_3.pth' in distill
    assert calls[-1][2] == demo.STUDENT and calls[-1][3].endswith('epoch_2_student.pth')
    assert (
        len(rows) == 3
        and '| camera distilled (2 ep) | 0.2500 | 0.5000 |' in capsys.readouterr().out
    )
    assert (tmp_path / 'results.md').is_file()
    calls.clear()
    demo.main(args)           # everything is there: nothing runs again
    assert calls == []
