# Linear probing of a LiMA-pretrained MinkUNet-34 on real nuScenes-lidarseg: the backbone of
# configs/lima_pretrain.py, frozen (eval mode, no gradient), plus a linear head trained on
# 100 % of the training scans; mIoU on the val split by the devkit's rule.
#   tools/dist_train.sh configs/lima_lidarseg_linear.py 4 \
#       --cfg-options model.init_backbone.checkpoint=work_dirs/lima_pretrain
# (a work dir or a .pth; checkpoint=None probes a random backbone: the "random" row).
_base_ = ['./minkunet34_seg.py']

model = dict(
    freeze_backbone=True,
    init_backbone=dict(checkpoint='work_dirs/lima_pretrain', prefix='backbone_3d.'))

# only the head trains: 10 x the fine-tuning lr (SuperFlow's head multiplier)
lr = 1e-2
max_epochs = 50
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs,
         eta_min=lr * 1e-2, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
