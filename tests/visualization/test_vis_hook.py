"""The test-time hook that saves pictures of the first N samples."""
from types import SimpleNamespace


def test_hook_draws_the_first_samples(tiny_root, tiny_infos, tmp_path):
    import torch
    from mmengine.structures import InstanceData

    import perception_kd.visualization  # noqa: F401  (registers the hook)
    from perception_kd.datasets import NuScenesDataset
    from perception_kd.registry import HOOKS
    from perception_kd.structures import Det3DDataSample
    dataset = NuScenesDataset(tiny_root, tiny_infos['val'], test_mode=True)
    hook = HOOKS.build(dict(type='Det3DVisualizationHook', num_samples=2,
                            kinds=('bev', 'bevplot'), size=(64, 48)))
    messages = []
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='20240101_000000', iter=0,
                             test_dataloader=SimpleNamespace(dataset=dataset),
                             logger=SimpleNamespace(info=messages.append))
    for idx in range(len(dataset)):          # one sample per batch, as tools/test.py runs
        info = dataset.get_data_info(idx)
        output = Det3DDataSample(metainfo=dict(sample_idx=idx, token=info['token']))
        pred = InstanceData()
        pred.bboxes_3d = torch.as_tensor(info['ann_info']['gt_bboxes_3d'])
        pred.scores_3d = torch.ones(len(pred.bboxes_3d))
        pred.labels_3d = torch.as_tensor(info['ann_info']['gt_labels_3d'])
        output.pred_instances_3d = pred
        hook.after_test_iter(runner, idx, data_batch=None, outputs=[output])
    hook.after_test(runner)
    folder = tmp_path / '20240101_000000' / 'vis_test'
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 4 and {name[:4] for name in names} == {'0000', '0001'}
    assert str(folder) in messages[0]


def test_hook_in_a_runner_test_loop(tiny_root, tiny_infos, tmp_path):
    """The hook as a config enables it, inside mmengine's Runner.test()."""
    import torch
    from mmengine.evaluator import BaseMetric, Evaluator
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from mmengine.structures import InstanceData

    from perception_kd.datasets import NuScenesDataset

    dataset = NuScenesDataset(tiny_root, tiny_infos['val'], test_mode=True, pipeline=[
        dict(type='LoadPointsFromFile'), dict(type='Pack3DDetInputs', keys=['points'])])

    class GroundTruthModel(BaseModel):
        """Predicts the ground truth of each sample."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, inputs, data_samples=None, mode='predict'):
            for sample in data_samples:
                ann = dataset.get_data_info(sample.metainfo['sample_idx'])['ann_info']
                pred = InstanceData()
                pred.bboxes_3d = torch.as_tensor(ann['gt_bboxes_3d'])
                pred.scores_3d = torch.ones(len(pred.bboxes_3d))
                pred.labels_3d = torch.as_tensor(ann['gt_labels_3d'])
                sample.pred_instances_3d = pred
            return data_samples

    class CountMetric(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results.extend(data_samples)

        def compute_metrics(self, results):
            return dict(count=len(results))

    runner = Runner(
        model=GroundTruthModel(), work_dir=str(tmp_path), experiment_name='vis_hook_runner_test',
        test_dataloader=dict(dataset=dataset, batch_size=2, num_workers=0,
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             collate_fn=dict(type='pseudo_collate')),
        test_cfg=dict(), test_evaluator=Evaluator([CountMetric()]), default_scope='perception_kd',
        custom_hooks=[dict(type='Det3DVisualizationHook', num_samples=3, kinds=('bevplot',),
                           out_dir=str(tmp_path / 'vis'))])
    metrics = runner.test()
    assert metrics['count'] == 4
    assert sorted(p.name[:4] for p in (tmp_path / 'vis').iterdir()) == ['0000', '0001', '0002']
