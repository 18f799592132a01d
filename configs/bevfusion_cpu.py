# BEVFusion-style LiDAR + camera detector sized for CPU training on the synthetic nuScenes
# set: the LiDAR part of configs/centerpoint_lidar_cpu.py (voxel 0.1 m, 3 frames) and the
# camera part of configs/bevdepth_cam_cpu.py (ResNet-18, 128x352) on the BEV grid both use
# (128 x 128 at 0.8 m over +-51.2 m), SE channel-attention + 1x1 conv fuser to the LiDAR
# width (64), then the LiDAR CPU model's BEV backbone, neck and CenterHead.
# tests/models/test_detector_camera.py checks that these parts equal those configs'.
#   python tools/train.py configs/bevfusion_cpu.py
_base_ = [
    './_base_/datasets/nuscenes_multimodal.py', './_base_/models/bevfusion.py',
    './_base_/schedules/cpu_short.py', './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.1, 0.1, 0.2]   # 1024 x 1024 x 40 voxels
bev_cell = 0.8                 # BEV 128 x 128
sweeps_num = 2                 # as configs/centerpoint_lidar_cpu.py
image_size = (450, 800)        # the synthetic demo images (H, W)
final_size = (128, 352)        # as configs/bevdepth_cam_cpu.py
base_scale = final_size[1] / image_size[1]
resize_lim = [base_scale * 0.86, base_scale * 1.25]

train_pipeline = adapt_pipeline(
    _base_.train_pipeline, point_cloud_range,
    LoadPointsFromMultiSweeps=dict(sweeps_num=sweeps_num),
    ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
test_pipeline = adapt_pipeline(
    _base_.test_pipeline, point_cloud_range,
    LoadPointsFromMultiSweeps=dict(sweeps_num=sweeps_num),
    ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))

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
            stage_strides=(1, 2, 2, 2),
            stage_z_paddings=(1, 1, 1, 0),
            out_channels=32),          # LiDAR BEV channels 32 * 2 = 64
        bev_cell=bev_cell),
    camera_encoder=dict(
        backbone=dict(depth=18, frozen_stages=-1, pretrained=None),
        neck=dict(in_channels=[256, 512], out_channels=64),
        view_transform=dict(in_channels=64, out_channels=64, mid_channels=64,
                            point_cloud_range=point_cloud_range, bev_cell=bev_cell)),
    fuser=dict(in_channels=[64, 64], out_channels=64, kernel_size=1),  # 1x1: ~9x cheaper
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
