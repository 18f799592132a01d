# LiMA's 2D teacher, trained here: ImageSegNet (ResNet-18 at 1/4 width + ImageFPN, stride 4,
# 64 channels, 1x1 classifier to the 16 lidarseg classes) on the synthetic set's exact
# per-pixel class maps (semantic2d/, from tools/make_synthetic.py), all 6 cameras at
# 128x224. A stand-in for the DINOv2 / supervised teachers of SLidR, PPKT and LiMA, which
# cannot be downloaded here; its trunk is then frozen by FrozenImageEncoder (see
# `image_teacher` below and docs/lima.md, "Image teacher").
#   python tools/train.py configs/lima_image_teacher_cpu.py
# Checkpoints: work_dirs/lima_image_teacher_cpu/epoch_N.pth (+ last_checkpoint).
_base_ = ['./_base_/default_runtime.py']

dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP',
                   **{cam: f'samples/{cam}' for cam in cameras})
input_modality = dict(use_lidar=False, use_camera=True)

# source images (H, W): the synthetic demo set is rendered at 800x450 (set (900, 1600) for
# real nuScenes); network input 128x224 (feature map 32x56 at stride 4)
image_size = (450, 800)
final_size = (128, 224)
base_scale = max(final_size[0] / image_size[0], final_size[1] / image_size[1])
resize_lim = [base_scale, base_scale * 1.3]

train_pipeline = [
    dict(type='LoadMultiViewImages', cam_names=cameras),
    dict(type='LoadImageSemantics'),  # semantic2d/samples/CAM_X/<name>.png -> img_semantics
    dict(type='ImageAug3D', final_size=final_size, resize_lim=resize_lim,
         bot_pct_lim=[0.0, 0.1], rot_lim=[-5.4, 5.4], rand_flip=True, is_train=True),
    dict(type='Pack3DDetInputs', keys=['img', 'img_semantics']),
]
test_pipeline = [
    dict(type='LoadMultiViewImages', cam_names=cameras),
    dict(type='LoadImageSemantics'),
    dict(type='ImageAug3D', final_size=final_size, resize_lim=resize_lim,
         bot_pct_lim=[0.0, 0.1], is_train=False),
    dict(type='Pack3DDetInputs', keys=['img', 'img_semantics']),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_train.pkl',
                 data_prefix=data_prefix, pipeline=train_pipeline, modality=input_modality,
                 test_mode=False, filter_empty_gt=False))
val_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_val.pkl',
                 data_prefix=data_prefix, pipeline=test_pipeline, modality=input_modality,
                 test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='PixelSegMetric')  # pixel mIoU over the 16 lidarseg classes
test_evaluator = val_evaluator

# the trunk FrozenImageEncoder exposes: stride 4, 64 channels
backbone = dict(type='ResNet', depth=18, base_channels=16, out_indices=(0, 1, 2, 3),
                pretrained=None)
neck = dict(type='ImageFPN', in_channels=[16, 32, 64, 128], out_channels=64)
model = dict(
    type='ImageSegNet',
    backbone=backbone,
    neck=neck,
    num_classes=16,
    class_map='lidarseg',  # 32 fine lidarseg classes -> 16 benchmark ones, noise/sky ignored
    upsample_logits=True,
    data_preprocessor=dict(type='Det3DDataPreprocessor'))  # ImageNet mean/std, RGB

# The frozen teacher for the LiMA pretraining config (the lead's configs/lima_pretrain.py):
# the trunk of this run, loaded from its latest checkpoint (a work dir or a .pth file).
image_teacher = dict(
    type='FrozenImageEncoder',
    backbone=backbone,
    neck=neck,
    checkpoint='work_dirs/lima_image_teacher_cpu',
    prefix='')  # ImageSegNet keeps backbone.* and neck.* at the top level

# Schedule: 160 train samples (v1.0-mini synthetic), 80 iterations of 2 samples x 6 images
# per epoch. Measured on the project's 2 CPU cores while shared by 5 workers (load ~4):
# about 1.05 s/iteration with OMP_NUM_THREADS=1 (1.6 s at base_channels=32; 2 threads were
# 3-5x slower under that contention), i.e. about 1.4 min/epoch and 6 minutes for the 4
# epochs; on 2 free cores expect about half. Validation (40 samples) runs once at the end.
lr = 2e-3
max_epochs = 4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=1e-2),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs, T_max=max_epochs - 1,
         eta_min=lr * 1e-2, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=2)
