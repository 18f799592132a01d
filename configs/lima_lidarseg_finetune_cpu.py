# Fine-tuning a LiMA-pretrained backbone for LiDAR segmentation on a fraction of the
# labelled training scans (synthetic set, CPU): the whole small MinkUNet + head trained on
# `scan_fraction` of the scans (1 % by default; the same scans for every method:
# subset_seed=0), mIoU on the val split.
#   python tools/train.py configs/lima_lidarseg_finetune_cpu.py \
#       --cfg-options model.init_backbone.checkpoint=work_dirs/lima_pretrain_cpu \
#       train_dataloader.dataset.scan_fraction=0.1
# (checkpoint=None: random init, the "random" row). tools/lima_table.py runs it for every
# pretraining variant, label fraction and seed.
_base_ = ['./minkunet_seg_cpu.py']

model = dict(init_backbone=dict(checkpoint='work_dirs/lima_pretrain_cpu', prefix='backbone_3d.'))
# InfiniteSampler: with 2 scans an epoch is one batch, and restarting the loader every
# iteration would cost more than the step
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(scan_fraction=0.01, subset_seed=0))

# a fixed iteration budget whatever the fraction (1 % = 2 scans of the demo set), one
# validation at the end
lr = 2e-3
max_iters = 200
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters,
         T_max=max_iters - 20, eta_min=lr * 1e-2),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1,
                                     save_best=None),
                     logger=dict(interval=20))
log_processor = dict(by_epoch=False)
