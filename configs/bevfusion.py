# BEVFusion-style LiDAR + camera detector on real nuScenes: the CenterPoint LiDAR encoder
# (10 frames, voxel 0.075 m) and the BEVDepth camera encoder (ResNet-50, 256x704) on one
# BEV grid (180 x 180 at 0.6 m over +-54 m), SE channel-attention fuser, then the LiDAR
# model's BEV backbone, neck and CenterHead. The fusion teacher of the distillation paths.
#   python tools/train.py configs/bevfusion.py
# The camera backbone starts from torchvision's ImageNet ResNet-50 weights (see
# configs/bevdepth_cam.py); a usual recipe also loads the LiDAR weights of a trained
# configs/centerpoint_lidar.py (--cfg-options load_from=<its checkpoint>).
_base_ = [
    './_base_/datasets/nuscenes_multimodal.py', './_base_/models/bevfusion.py',
    './_base_/schedules/adamw_20e.py', './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]  # = the model's (see its bases)
image_size = (900, 1600)
final_size = (256, 704)
resize_lim = [0.38, 0.55]
backbone_checkpoint = 'checkpoints/resnet50-0676ba61.pth'

train_pipeline = adapt_pipeline(
    _base_.train_pipeline, point_cloud_range,
    ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
test_pipeline = adapt_pipeline(
    _base_.test_pipeline, point_cloud_range,
    ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

model = dict(camera_encoder=dict(backbone=dict(pretrained=backbone_checkpoint)))
