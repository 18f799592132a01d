# CenterPoint LiDAR detector on nuScenes (10 frames: keyframe + 9 sweeps), voxel 0.075 m,
# range +-54 m, BEV 180 x 180 at 0.6 m. The LiDAR teacher/student of the distillation
# experiments on real data.
#   python tools/train.py configs/centerpoint_lidar.py
_base_ = [
    './_base_/datasets/nuscenes_lidar.py', './_base_/models/centerpoint_lidar.py',
    './_base_/schedules/adamw_20e.py', './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]  # = the model's (see its base)

train_pipeline = adapt_pipeline(
    _base_.train_pipeline, point_cloud_range)
test_pipeline = adapt_pipeline(
    _base_.test_pipeline, point_cloud_range)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
