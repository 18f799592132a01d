# AdamW, 20 epochs, step decay at epochs 10 and 15 (BEVFusion/CenterPoint-style schedule
# for full nuScenes on GPUs). lr 2e-4 is for a total batch size of 32 (auto_scale_lr).
lr = 2e-4
max_epochs = 20
warmup_iters = 500

optim_wrapper = dict(
    type='OptimWrapper',  # tools/train.py --amp switches it to mixed precision
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=1e-2),
    clip_grad=dict(max_norm=35, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[10, 15],
         gamma=0.1),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# scale lr linearly when the total batch size differs: tools/train.py --auto-scale-lr
auto_scale_lr = dict(enable=False, base_batch_size=32)
