# Fine-tuning a LiMA-pretrained MinkUNet-34 for LiDAR segmentation on real nuScenes-lidarseg
# with a fraction of the labelled training scans (1 % by default; 10 %, 100 %: set
# scan_fraction; the same scans for every method: subset_seed=0); mIoU on val.
#   tools/dist_train.sh configs/lima_lidarseg_finetune.py 4 \
#       --cfg-options model.init_backbone.checkpoint=work_dirs/lima_pretrain \
#       train_dataloader.dataset.scan_fraction=0.1
# (checkpoint=None: random init, the "random" row).
_base_ = ['./minkunet34_seg.py']

model = dict(init_backbone=dict(checkpoint='work_dirs/lima_pretrain', prefix='backbone_3d.'))
train_dataloader = dict(dataset=dict(scan_fraction=0.01, subset_seed=0))

# SuperFlow's fine-tuning recipe: AdamW lr 1e-3 (the head 10 x), 100 epochs (1 % = 281
# scans, 18 iterations per epoch at batch 16); for 100 % labels 50 epochs suffice. Warm-up
# + cosine instead of SuperFlow's one-cycle: mmengine's OneCycleLR gives every parameter
# group the same peak lr and would drop the head's multiplier.
lr = 1e-3
max_epochs = 100
optim_wrapper = dict(optimizer=dict(lr=lr),
                     paramwise_cfg=dict(custom_keys={'head.': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.04, by_epoch=True, begin=0, end=max_epochs // 5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=max_epochs // 5, end=max_epochs,
         T_max=max_epochs - max_epochs // 5, eta_min=lr * 1e-2, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
