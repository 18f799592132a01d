# LiDAR semantic segmentation from scratch on the synthetic nuScenes set, sized for CPU:
# a small MinkUNet (base 16, 4 stages of 1 block), 0.2 m voxels, range +-48 m.
# Measured on the demo world (160 train keyframes, ~30k points each; 2 shared CPU cores,
# batch 2): about 1.5 min per training epoch (80 iterations, ~1 s each) + 10 s validation
# (40 keyframes); 12 epochs about 20 min.
#   python tools/train.py configs/minkunet_seg_cpu.py
#   python tools/test.py configs/minkunet_seg_cpu.py work_dirs/minkunet_seg_cpu/epoch_12.pth
# Label fractions: --cfg-options train_dataloader.dataset.scan_fraction=0.1
_base_ = [
    './_base_/datasets/nuscenes_lidarseg.py', './_base_/models/minkunet.py',
    './_base_/schedules/cpu_short.py', './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-48.0, -48.0, -4.0, 48.0, 48.0, 4.0]
voxel_size = [0.2, 0.2, 0.2]      # 480 x 480 x 40 voxels

train_pipeline = adapt_pipeline(_base_.train_pipeline, point_cloud_range)
test_pipeline = adapt_pipeline(_base_.test_pipeline, point_cloud_range)
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))

model = dict(
    data_preprocessor=dict(voxel_size=voxel_size, point_cloud_range=point_cloud_range),
    backbone=dict(base_channels=16, encoder_channels=(16, 32, 64, 128),
                  encoder_blocks=(1, 1, 1, 1), decoder_channels=(128, 64, 32, 32),
                  decoder_blocks=(1, 1, 1, 1)))

# the best epoch by mIoU (validation each epoch is cheap: 40 keyframes)
train_cfg = dict(val_interval=1)
default_hooks = dict(checkpoint=dict(save_best='lidarseg/mIoU', rule='greater'))
