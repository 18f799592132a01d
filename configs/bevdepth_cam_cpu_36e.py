# configs/bevdepth_cam_cpu.py (BEVDepth-style camera detector, CPU sizes, ResNet-18 from
# scratch) on a 3x longer schedule: 36 epochs, one warm-up epoch then cosine over 35,
# validation every 12 epochs. The 12-epoch schedule stops while the camera model is still
# learning depth; see docs/results.md for both (about 80 min on 2 CPU cores).
#   python tools/train.py configs/bevdepth_cam_cpu_36e.py
_base_ = ['./bevdepth_cam_cpu.py']

max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs, T_max=max_epochs - 1,
         eta_min=_base_.lr * 1e-2, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=12)
