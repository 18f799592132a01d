# Detection fine-tuning from a LiMA-pretrained backbone on the synthetic set (CPU): the
# CenterPoint LiDAR detector of configs/centerpoint_lidar_cpu.py, its sparse encoder
# initialised from the MinkUNet of configs/lima_pretrain_cpu.py where shapes allow
# (docs/lima.md, "Detection fine-tuning"), trained on `scan_fraction` of the training scans
# (10 % by default; the same scans for every method: subset_seed=0), mAP/NDS on val.
#   python tools/train.py configs/lima_det_finetune_cpu.py \
#       --cfg-options model.lidar_encoder.init_sparse_encoder.checkpoint=work_dirs/lima_pretrain_cpu
#   (checkpoint=None: the random-init control, everything else identical)
# To match the pretraining input, the detector sees what the MinkUNet saw: keyframe points
# only (no sweeps), 4 features (x, y, z, intensity), 0.2 m cubic voxels. The sparse encoder
# has the pretraining widths (base 16, levels 16 / 16 / 32) so that its stem and most
# residual convs transfer; its last stage stays at stride 4 (BEV 0.8 m cells, 128 x 128,
# the CPU detector's grid).
_base_ = ['./centerpoint_lidar_cpu.py']

voxel_size = [0.2, 0.2, 0.2]   # 512 x 512 x 40 voxels, as the pretraining grid's voxels
bev_cell = 0.8                 # voxel 0.2 x total stride 4 -> BEV 128 x 128
scan_fraction = 0.1            # label fraction of the training scans (1 % = 1-2 demo scans)
subset_seed = 0


def _keyframe_only(pipeline):
    steps = []
    for step in pipeline:
        if step['type'] == 'LoadPointsFromMultiSweeps':
            continue
        step = dict(step)
        if step['type'] == 'LoadPointsFromFile':
            step['use_dim'] = 4
        steps.append(step)
    return steps


train_pipeline = _keyframe_only(_base_.train_pipeline)
test_pipeline = _keyframe_only(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, scan_fraction=scan_fraction,
                                     subset_seed=subset_seed))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

model = dict(
    data_preprocessor=dict(voxelize_cfg=dict(voxel_size=voxel_size)),
    lidar_encoder=dict(
        voxel_encoder=dict(num_features=4),                 # x, y, z, intensity (mean)
        sparse_encoder=dict(
            in_channels=4,
            voxel_size=voxel_size,
            base_channels=16,
            stage_channels=(16, 16, 32, 64),
            stage_blocks=(1, 1, 1, 1),
            stage_strides=(1, 2, 2, 1),       # x/y: 512 -> 128
            stage_z_paddings=(1, 1, 0, 0),    # z: 41 -> 21 -> 10 -> 10
            out_channels=32),                 # conv_out z: 10 -> 4, BEV channels 32 * 4 = 128
        bev_cell=bev_cell,
        init_sparse_encoder=dict(checkpoint='work_dirs/lima_pretrain_cpu',
                                 prefix='backbone_3d.')),
    bev_backbone=dict(in_channels=128))

# a fixed iteration budget whatever the fraction, one validation at the end
lr = 2e-3
max_iters = 400
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters,
         T_max=max_iters - 20, eta_min=lr * 1e-2),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=20))
log_processor = dict(by_epoch=False)
