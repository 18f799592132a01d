"""The semi-supervised X-Ray recipe through the tools on the tiny semi tree (the ``tiny_semi``
fixture: split infos, oracle pseudo labels, OCFs): predicting pseudo labels with
tools/test.py and the labelled detector's config, and one training iteration of the
semi-supervised student with tools/train.py."""
import copy
import json
import sys
from pathlib import Path

import mmengine
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, load_tool, logged_train_scalars  # noqa: E402

from perception_kd.models.distill import model_cfg_from  # noqa: E402
from perception_kd.ocf import PseudoLabelOptions, make_ocf  # noqa: E402
from perception_kd.registry import MODELS  # noqa: E402

LABELLED = REPO / 'configs' / 'xray_semi_labelled_centerpoint_cpu.py'
STUDENT = REPO / 'configs' / 'xray_semi_distill_centerpoint_cpu.py'


def _random_checkpoint(model_cfg, path: Path) -> Path:
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('perception_kd'):
        model = MODELS.build(copy.deepcopy(model_cfg))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


def test_predicting_pseudo_labels_feeds_make_ocf(tiny_semi, tmp_path):
    root = tiny_semi['root']
    ckpt = _random_checkpoint(
        Config.fromfile(str(LABELLED)).model, tmp_path / 'det' / 'epoch_1.pth'
    )
    out = tmp_path / 'pseudo'
    metrics = load_tool('test').main(
        [str(LABELLED), str(ckpt), '--work-dir', str(tmp_path / 'det'), '--data-root', root,
         '--out-json', str(out), '--cfg-options', 'test_dataloader.num_workers=0',
         'test_dataloader.persistent_workers=False', 'test_dataloader.batch_size=4'])
    assert metrics == {}                                    # format only
    results = json.loads((out / 'results_nusc.json').read_text())['results']
    unlabelled = mmengine.load(f'{root}/nuscenes_infos_train_unlabelled.pkl')['data_list']
    assert set(results) == {info['token'] for info in unlabelled}     # every unlabelled sample
    assert all(len(boxes) > 0 for boxes in results.values())
    summary = make_ocf(root, out=str(tmp_path / 'ocf'), info_suffix='_pred', progress=False,
                       infos=[f'{root}/nuscenes_infos_train_unlabelled.pkl'],
                       pseudo_labels=str(out / 'results_nusc.json'),
                       pseudo_options=PseudoLabelOptions(score_thr=0.0))
    assert summary.frames_written == 4 and summary.pseudo.scenes
    scene = next(iter(summary.pseudo.scenes.values()))
    assert scene.kept == scene.detections == sum(len(b) for b in results.values())


def test_semi_student_trains_one_iteration(tiny_semi, tmp_path):
    cfg = Config.fromfile(str(STUDENT))
    teacher_dir = tmp_path / 'teacher'
    _random_checkpoint(model_cfg_from(cfg.model.teacher, 'teacher'), teacher_dir / 'epoch_1.pth')
    runner = load_tool('train').main(
        [str(STUDENT), '--work-dir', str(tmp_path / 'semi'), '--data-root', tiny_semi['root'],
         '--cfg-options', f'model.teacher_ckpt={teacher_dir}', 'train_cfg.max_epochs=1',
         '+train_cfg.val_begin=2', 'default_hooks.logger.interval=1',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         '+train_dataloader.dataset.datasets.0.indices=1',      # one labelled sample
         '+train_dataloader.dataset.datasets.1.indices=1'])     # one unlabelled sample
    assert (runner.epoch, runner.iter) == (1, 1)
    assert runner.model.semi_supervised
    logged = logged_train_scalars(runner.log_dir)
    assert {'loss_heatmap', 'loss_bbox', 'loss_distill_fea', 'loss_distill_resp'} <= set(logged[0])
    assert all(value == value for value in logged[0].values())          # no NaN
