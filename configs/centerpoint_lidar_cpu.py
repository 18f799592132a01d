# CenterPoint LiDAR detector sized for CPU training on the synthetic nuScenes set
# (tools/make_synthetic.py): range +-51.2 m, voxel 0.1 m, 3 frames (keyframe + 2 sweeps),
# BEV 128 x 128 at 0.8 m - the grid the camera and fusion CPU configs share, so that any
# of them can teach another - and narrow layers.
#   python tools/train.py configs/centerpoint_lidar_cpu.py
_base_ = [
    './_base_/datasets/nuscenes_lidar.py', './_base_/models/centerpoint_lidar.py',
    './_base_/schedules/cpu_short.py', './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.1, 0.1, 0.2]   # 1024 x 1024 x 40 voxels
bev_cell = 0.8                 # voxel 0.1 x total stride 8 -> BEV 128 x 128
sweeps_num = 2                 # earlier sweeps merged into each keyframe

train_pipeline = adapt_pipeline(
    _base_.train_pipeline, point_cloud_range,
    LoadPointsFromMultiSweeps=dict(sweeps_num=sweeps_num))
test_pipeline = adapt_pipeline(
    _base_.test_pipeline, point_cloud_range,
    LoadPointsFromMultiSweeps=dict(sweeps_num=sweeps_num))
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))

# Narrow layers, sized by measured CPU time per training iteration (batch 2, one thread):
# the full-resolution submanifold convs and the 36 head branches dominate, so the sparse
# encoder skips residual blocks at full resolution and the head branches use 1x1 convs.
model = dict(
    data_preprocessor=dict(
        voxelize_cfg=dict(voxel_size=voxel_size, point_cloud_range=point_cloud_range,
                          max_num_points=10, max_voxels=(40000, 40000))),
    lidar_encoder=dict(
        sparse_encoder=dict(
            voxel_size=voxel_size,
            point_cloud_range=point_cloud_range,
            base_channels=8,
            stage_channels=(8, 16, 32, 32),
            stage_blocks=(0, 1, 1, 1),
            stage_strides=(1, 2, 2, 2),      # x/y: 1024 -> 128
            stage_z_paddings=(1, 1, 1, 0),   # z: 41 -> 21 -> 11 -> 5
            out_channels=32),                # conv_out z: 5 -> 2, BEV channels 32 * 2 = 64
        bev_cell=bev_cell),
    bev_backbone=dict(in_channels=64, out_channels=(32, 64), layer_nums=(1, 1),
                      layer_strides=(1, 2)),
    bev_neck=dict(in_channels=(32, 64), out_channels=(32, 32), upsample_strides=(1, 2)),
    head=dict(
        in_channels=64,
        point_cloud_range=point_cloud_range,
        bev_cell=bev_cell,
        share_channels=32,
        head_channels=16,
        final_kernel=1,
        test_cfg=dict(post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0])))
