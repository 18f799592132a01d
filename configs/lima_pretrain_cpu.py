# LiMA image-to-LiDAR pretraining on the synthetic nuScenes set, sized for CPU.
# 3D student: the small MinkUNet of configs/minkunet_seg_cpu.py (same grid, so its weights
# load into the downstream configs); 2D teacher: the frozen trunk of the image network of
# configs/lima_image_teacher_cpu.py (train it first). Superpixels: the generator's exact
# segment maps ('render'); for SLIC run tools/make_superpixels.py ROOT and set
# superpixels='slic'. The three LiMA components are switches (docs/lima.md):
#   python tools/train.py configs/lima_image_teacher_cpu.py         # the 2D teacher
#   python tools/train.py configs/lima_pretrain_cpu.py              # full LiMA
#   python tools/train.py configs/lima_pretrain_cpu.py --cfg-options \
#       model.cross_view.enabled=False model.memory.num_frames=0 \
#       model.cross_sequence.enabled=False                          # the single-frame base
# Output: work_dirs/lima_pretrain_cpu/epoch_N.pth; the backbone is under `backbone_3d.`
# (configs/lima_lidarseg_linear_cpu.py and lima_lidarseg_finetune_cpu.py load it).
_base_ = ['./_base_/default_runtime.py']

dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP',
                   **{cam: f'samples/{cam}' for cam in cameras})
point_cloud_range = [-48.0, -48.0, -4.0, 48.0, 48.0, 4.0]
voxel_size = [0.2, 0.2, 0.2]
superpixels = 'render'
# the synthetic demo set renders 800x450 images; the network sees 128x224 (as the teacher)
image_size = (450, 800)
final_size = (128, 224)
scale = max(final_size[0] / image_size[0], final_size[1] / image_size[1])
batch_size = 2                # = number of scene streams per rank (SceneSequentialSampler)

train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=4),
    dict(type='LoadMultiViewImages', cam_names=cameras),
    dict(type='LoadSuperpixels', method=superpixels),
    dict(type='ImageAug3D', final_size=final_size, resize_lim=[scale, scale], is_train=False),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointImagePairing', min_depth=1.0),
    dict(type='Pack3DDetInputs', keys=['points', 'img', 'pairing', 'img_superpixels']),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='SceneSequentialSampler', batch_size=batch_size, shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_train.pkl',
                 data_prefix=data_prefix, pipeline=train_pipeline,
                 modality=dict(use_lidar=True, use_camera=True), test_mode=False,
                 filter_empty_gt=False))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None

image_teacher = dict(
    type='FrozenImageEncoder',
    backbone=dict(type='ResNet', depth=18, base_channels=16, out_indices=(0, 1, 2, 3),
                  pretrained=None),
    neck=dict(type='ImageFPN', in_channels=[16, 32, 64, 128], out_channels=64),
    checkpoint='work_dirs/lima_image_teacher_cpu', prefix='')
model = dict(
    type='LiMAPretrainer',
    # images pass raw (0..255): the frozen encoder normalises them itself
    data_preprocessor=dict(type='SegDataPreprocessor', voxel_size=voxel_size,
                           point_cloud_range=point_cloud_range, mean=(0.0, 0.0, 0.0),
                           std=(1.0, 1.0, 1.0)),
    backbone_3d=dict(type='MinkUNet', in_channels=4, base_channels=16,
                     encoder_channels=(16, 32, 64, 128), encoder_blocks=(1, 1, 1, 1),
                     decoder_channels=(128, 64, 32, 32), decoder_blocks=(1, 1, 1, 1)),
    image_encoder=image_teacher,
    embed_dim=64,
    temperature=0.07,
    max_regions=2048,
    cross_view=dict(enabled=True, min_shared=3, min_fraction=0.3),
    memory=dict(num_frames=6, voxel_size=0.5, weight=0.5, max_points=20000),
    cross_sequence=dict(enabled=True, weight=1.0, threshold=0.8))

lr = 2e-3
max_epochs = 4
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=1e-2),
                     clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         T_max=max_epochs - 1, eta_min=lr * 1e-2, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs + 1)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True))
