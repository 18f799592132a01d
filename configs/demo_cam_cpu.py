# The demo's camera student (`make demo`, tools/demo_unidistill.py --story unidistill):
# configs/bevdepth_cam_cpu.py shrunk so that two of them (alone and distilled) train side by
# side on one thread each within the demo's time: 6 cameras at 64x176 (half the side), a
# ResNet-18 of half width from scratch read at strides 8 and 16 (the feature map stays
# 8 x 22), 59 depth bins (1 m) instead of 118. BEV grid (128 x 128 at 0.8 m), width (64),
# BEV backbone, neck and CenterHead are the CPU LiDAR detector's, so that
# configs/centerpoint_lidar_cpu.py can teach it (configs/demo_lidar2cam_cpu.py).
# About 3.5x cheaper per training step than configs/bevdepth_cam_cpu.py (0.55 vs 1.9 s,
# batch 2, one thread); 3.1 M parameters instead of 11.5 M.
#   python tools/train.py configs/demo_cam_cpu.py
_base_ = ['./bevdepth_cam_cpu.py']

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
image_size = (450, 800)      # the synthetic demo images (H, W)
final_size = (64, 176)       # network input (H, W): feature map 8 x 22 at stride 8
base_scale = final_size[1] / image_size[1]
resize_lim = [base_scale * 0.86, base_scale * 1.25]

train_pipeline = adapt_pipeline(_base_.train_pipeline, point_cloud_range,
                                ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
test_pipeline = adapt_pipeline(_base_.test_pipeline, point_cloud_range,
                               ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
# one loading process per run: the demo trains two runs side by side on two cores
train_dataloader = dict(num_workers=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

model = dict(
    camera_encoder=dict(
        backbone=dict(base_channels=32, out_indices=(1, 2)),   # stages 64 / 128 wide
        neck=dict(in_channels=[64, 128], out_channels=64),
        view_transform=dict(dbound=(1.0, 60.0, 1.0))))
