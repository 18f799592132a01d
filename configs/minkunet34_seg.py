# LiDAR semantic segmentation on real nuScenes-lidarseg (v1.0-trainval): MinkUNet-34-sized
# sparse U-Net (base 32, encoder (32, 64, 128, 256) x (2, 3, 4, 6) blocks, decoder
# (256, 128, 96, 96) x 2 blocks), 0.1 m voxels, range +-51.2 m; the LiMA/SuperFlow
# downstream protocol. Sized for GPUs (batch 4 per GPU).
#   python tools/train.py configs/minkunet34_seg.py
#   python tools/train.py configs/minkunet34_seg.py --cfg-options \
#       train_dataloader.dataset.scan_fraction=0.01 \
#       model.init_backbone.checkpoint=work_dirs/lima_pretrain/epoch_50.pth  # 1 % fine-tuning
#   linear probing: + model.freeze_backbone=True
_base_ = [
    './_base_/datasets/nuscenes_lidarseg.py', './_base_/models/minkunet.py',
    './_base_/default_runtime.py'
]

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

version = 'v1.0-trainval'
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.1, 0.1, 0.1]

train_pipeline = adapt_pipeline(_base_.train_pipeline, point_cloud_range)
test_pipeline = adapt_pipeline(_base_.test_pipeline, point_cloud_range)
train_dataloader = dict(batch_size=4, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='LidarSegMetric', eval_set='val')
test_evaluator = val_evaluator

model = dict(
    data_preprocessor=dict(voxel_size=voxel_size, point_cloud_range=point_cloud_range))
# a pretrained backbone (e.g. the 3D student of a lima_pretrain run) is loaded with
# model.init_backbone.checkpoint=PATH (keys under 'backbone_3d.')

# AdamW + one-cycle-like cosine schedule over 50 epochs (SuperFlow-style fine-tuning);
# lr 1e-3 for a total batch size of 16 (tools/train.py --auto-scale-lr scales it).
lr = 1e-3
max_epochs = 50
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=1e-2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs,
         eta_min=lr * 1e-2, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(checkpoint=dict(save_best='lidarseg/mIoU', rule='greater'))
