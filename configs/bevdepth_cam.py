# BEVDepth-style camera detector on real nuScenes: 6 cameras at 256x704 (from 1600x900),
# ResNet-50 + image FPN, LSS view transform with 118 depth bins (1-60 m) supervised by the
# keyframe LiDAR points, BEV 180 x 180 at 0.6 m over +-54 m - the grid of
# configs/centerpoint_lidar.py, so either can teach the other - and the LiDAR model's BEV
# backbone, neck and CenterHead.
#   python tools/train.py configs/bevdepth_cam.py
# It starts from torchvision's ImageNet ResNet-50 weights: checkpoints/resnet50-0676ba61.pth,
# else the torch hub cache, else downloaded there (docs/getting_started.md, first run); or pass
#   --cfg-options model.camera_encoder.backbone.pretrained=<path or None>
_base_ = [
    './_base_/datasets/nuscenes_multimodal.py', './_base_/models/bevdepth_cam.py',
    './_base_/schedules/adamw_20e.py', './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]  # = the model's (see its base)
image_size = (900, 1600)     # real nuScenes camera images (H, W)
final_size = (256, 704)      # network input (H, W)
resize_lim = [0.38, 0.55]    # BEVFusion's training resize range for 1600x900 -> 256x704
sweeps_num = 0               # the LiDAR only supervises depth: keyframe points
backbone_checkpoint = 'checkpoints/resnet50-0676ba61.pth'

train_pipeline = adapt_pipeline(
    _base_.train_pipeline, point_cloud_range,
    LoadPointsFromMultiSweeps=dict(sweeps_num=sweeps_num),
    ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
test_pipeline = adapt_pipeline(
    _base_.test_pipeline, point_cloud_range,
    LoadPointsFromMultiSweeps=dict(sweeps_num=sweeps_num),
    ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

model = dict(camera_encoder=dict(backbone=dict(pretrained=backbone_checkpoint)))
