# BEVDepth-style camera detector sized for CPU training on the synthetic nuScenes set
# (tools/make_synthetic.py, 800x450 images): 6 cameras at 128x352, ResNet-18 from scratch,
# 118 depth bins (1-60 m) supervised by the keyframe LiDAR points, BEV 128 x 128 at 0.8 m
# over +-51.2 m with 64 channels - the grid and width of configs/centerpoint_lidar_cpu.py's
# LiDAR BEV map - and that config's BEV backbone, neck and CenterHead.
#   python tools/train.py configs/bevdepth_cam_cpu.py
_base_ = [
    './_base_/datasets/nuscenes_multimodal.py', './_base_/models/bevdepth_cam.py',
    './_base_/schedules/cpu_short.py', './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
bev_cell = 0.8               # BEV 128 x 128
image_size = (450, 800)      # the synthetic demo images (H, W)
final_size = (128, 352)      # network input (H, W): feature map 8 x 22 at stride 16
base_scale = final_size[1] / image_size[1]
resize_lim = [base_scale * 0.86, base_scale * 1.25]
sweeps_num = 0               # the LiDAR only supervises depth: keyframe points

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
    camera_encoder=dict(
        backbone=dict(depth=18, frozen_stages=-1, pretrained=None),  # no weights: from scratch
        neck=dict(in_channels=[256, 512], out_channels=64),
        view_transform=dict(in_channels=64, out_channels=64, mid_channels=64,
                            point_cloud_range=point_cloud_range, bev_cell=bev_cell)),
    # BEV backbone / neck / head: configs/centerpoint_lidar_cpu.py's (its BEV is 64 wide too)
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
