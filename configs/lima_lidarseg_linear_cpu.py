# Linear probing of a LiMA-pretrained backbone on the synthetic set (CPU): the small
# MinkUNet of configs/lima_pretrain_cpu.py, frozen (eval mode, no gradient), plus a linear
# head trained on 100 % of the training scans; mIoU on the val split by the devkit's rule.
#   python tools/train.py configs/lima_lidarseg_linear_cpu.py \
#       --cfg-options model.init_backbone.checkpoint=work_dirs/lima_pretrain_cpu
# (a work dir or a .pth; checkpoint=None probes a random backbone: the "random" row).
# tools/lima_table.py runs it for every pretraining variant and seed.
_base_ = ['./minkunet_seg_cpu.py']

model = dict(
    freeze_backbone=True,
    init_backbone=dict(checkpoint='work_dirs/lima_pretrain_cpu', prefix='backbone_3d.'))

# a fixed iteration budget (the same for every variant), one validation at the end
lr = 1e-2
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
