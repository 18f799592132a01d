# CenterPoint LiDAR detector on nuScenes (10 frames: keyframe + 9 sweeps), voxel 0.075 m,
# range +-54 m, BEV 180 x 180 at 0.6 m. The LiDAR teacher/student of the distillation
# experiments on real data.
#   python tools/train.py configs/centerpoint_lidar.py
_base_ = [
    './_base_/datasets/nuscenes_lidar.py', './_base_/models/centerpoint_lidar.py',
    './_base_/schedules/adamw_20e.py', './_base_/default_runtime.py'
]

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]  # = the model's (see its base)


def _with_range(pipeline):
    """The dataset base's pipeline with this config's range in its range filters."""
    return [dict(step, point_cloud_range=point_cloud_range) if 'point_cloud_range' in step
            else step for step in pipeline]


train_pipeline = _with_range(_base_.train_pipeline)
test_pipeline = _with_range(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
