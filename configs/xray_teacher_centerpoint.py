# X-Ray teacher, real nuScenes: CenterPoint (configs/centerpoint_lidar.py)
# trained and evaluated on Object-Complete Frames: each keyframe's points are replaced by
# its OCF (tools/make_ocf.py; the raw sweeps stay), boxes and metric as usual.
#   python tools/make_ocf.py /data/nuscenes --version v1.0-trainval --skip-empty  # + *_ocf.pkl
#   (--skip-empty: boxes without raw points are not in the ground truth nor the metric,
#   so they stay empty; docs/ocf.md "Empty annotations", results in docs/results.md)
#   python tools/train.py configs/xray_teacher_centerpoint.py
# Evaluate the raw-frame detector on OCFs (or this one on raw frames) by pairing a
# checkpoint with the other config: tools/test.py CONFIG CKPT.
_base_ = ['./centerpoint_lidar.py']

from perception_kd.utils.config_helpers import adapt_pipeline

ocf_step = dict(type='LoadOCFPoints', load_dim=5, use_dim=5, out_key='points')
train_pipeline = adapt_pipeline(
    _base_.train_pipeline, insert_after=dict(LoadPointsFromFile=ocf_step)
)
test_pipeline = adapt_pipeline(_base_.test_pipeline, insert_after=dict(LoadPointsFromFile=ocf_step))
train_dataloader = dict(
    dataset=dict(ann_file='nuscenes_infos_train_ocf.pkl', pipeline=train_pipeline)
)
val_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_val_ocf.pkl', pipeline=test_pipeline))
test_dataloader = val_dataloader
