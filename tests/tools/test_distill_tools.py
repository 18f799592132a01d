"""tools/train.py on a UniDistill config (one iteration on the tiny synthetic tree),
tools/export_student.py, then tools/test.py with the student's own config on the export;
and the error for a missing teacher checkpoint."""
import copy
import json
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, devkit_summary, load_tool, logged_train_scalars  # noqa: E402

from perception_kd.models.distill import model_cfg_from  # noqa: E402
from perception_kd.registry import MODELS  # noqa: E402

CONFIG = REPO / 'configs' / 'unidistill_lidar2cam_cpu.py'
STUDENT = REPO / 'configs' / 'bevdepth_cam_cpu.py'


def _loader_options(split: str) -> list:
    return [f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False',
            f'+{split}_dataloader.dataset.indices=1']


def _small_images(split: str) -> list:
    # the tiny tree's 320x180 images: keep the crop inside them
    step = 4 if split == 'train' else 3
    return [f'{split}_dataloader.dataset.pipeline.{step}.final_size=[64,176]',
            f'{split}_dataloader.dataset.pipeline.{step}.resize_lim=[0.55,0.6]']


def test_missing_teacher_checkpoint_is_a_clear_error(tiny_root, tiny_infos, tmp_path):
    with pytest.raises(SystemExit) as err:
        load_tool('train').main(
            [
                str(CONFIG),
                '--work-dir',
                str(tmp_path / 'w'),
                '--data-root',
                tiny_root,
                '--cfg-options',
                f'model.teacher_ckpt={tmp_path / "no_teacher"}',
            ]
        )
    message = str(err.value)
    assert 'teacher checkpoint' in message and 'python tools/train.py' in message
    assert 'centerpoint_lidar_cpu.py' in message


def test_distill_train_export_and_test_with_the_student_config(tiny_root, tiny_infos, tmp_path):
    cfg = Config.fromfile(str(CONFIG))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('perception_kd'):
        teacher = MODELS.build(model_cfg_from(copy.deepcopy(cfg.model.teacher), 'teacher'))
    teacher_dir = tmp_path / 'teacher'
    teacher_dir.mkdir()
    torch.save(dict(state_dict=teacher.state_dict(), meta={}), teacher_dir / 'epoch_3.pth')

    work_dir = tmp_path / 'distill'
    runner = load_tool('train').main(
        [str(CONFIG), '--work-dir', str(work_dir), '--data-root', tiny_root, '--cfg-options',
         f'model.teacher_ckpt={teacher_dir}', 'train_cfg.max_epochs=1', '+train_cfg.val_begin=2',
         'default_hooks.logger.interval=1', 'train_dataloader.batch_size=1',
         *_loader_options('train'), *_small_images('train')])
    assert (runner.epoch, runner.iter) == (1, 1)
    assert runner.model.teacher_ckpt == str(teacher_dir / 'epoch_3.pth')
    logged = logged_train_scalars(runner.log_dir)
    assert {'loss_distill_fea', 'loss_distill_rel', 'loss_distill_resp', 'loss_depth'} <= set(
        logged[0]
    )
    # the teacher's weights went into the checkpoint unchanged
    saved = torch.load(work_dir / 'epoch_1.pth', weights_only=False)['state_dict']
    for key, value in teacher.state_dict().items():
        assert torch.equal(saved['teacher.' + key], value), key

    out = load_tool('export_student').main([str(CONFIG), str(work_dir / 'epoch_1.pth')])
    assert out.endswith('epoch_1_student.pth')
    metrics = load_tool('test').main(
        [str(STUDENT), out, '--work-dir', str(tmp_path / 'test'), '--data-root', tiny_root,
         '--out-json', str(tmp_path / 'results'), '--cfg-options', *_loader_options('test'),
         *_small_images('test')])
    summary = devkit_summary(tmp_path / 'results')     # the tool reports the devkit's numbers
    assert metrics['NuScenes/mAP'] == pytest.approx(summary['mean_ap'], abs=1e-6)
    assert metrics['NuScenes/NDS'] == pytest.approx(summary['nd_score'], abs=1e-6)
    # the exported student predicted on the tested sample
    results = json.loads((tmp_path / 'results' / 'results_nusc.json').read_text())
    assert sum(len(boxes) > 0 for boxes in results['results'].values()) <= 1
