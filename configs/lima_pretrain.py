# LiMA image-to-LiDAR pretraining on real nuScenes (v1.0-trainval), sized for GPUs as
# SuperFlow's recipe: MinkUNet-34 3D student on 0.1 m voxels (configs/minkunet34_seg.py, so
# the downstream configs load it), a frozen DINOv2 ViT teacher, SLIC superpixels, 6 cameras
# at 224 x 448, batch 4 scene streams per GPU (x 8 GPUs = 32), AdamW + one-cycle over 100
# epochs. The three LiMA components are switches (docs/lima.md), as in lima_pretrain_cpu.py.
# Before training:
#   python tools/create_data.py data/nuscenes --version v1.0-trainval
#   python tools/make_superpixels.py data/nuscenes --workers 16        # SLIC maps, resumable
#   pip install timm   # and put the DINOv2 weights on disk (see `image_teacher` below)
#   tools/dist_train.sh configs/lima_pretrain.py 8
# Output: work_dirs/lima_pretrain/epoch_N.pth; the backbone is under `backbone_3d.`
# (configs/lima_lidarseg_linear.py, lima_lidarseg_finetune.py, lima_det_finetune.py).
_base_ = ['./_base_/default_runtime.py']

dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP',
                   **{cam: f'samples/{cam}' for cam in cameras})
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]   # = configs/minkunet34_seg.py
voxel_size = [0.1, 0.1, 0.1]
superpixels = 'slic'          # tools/make_superpixels.py (150 segments, compactness 6, sigma 3)
# nuScenes images are 900 x 1600; resized by 0.28 to 252 x 448 and the bottom 224 x 448 kept
# (multiples of the ViT patch 14: 16 x 32 tokens per image)
image_size = (900, 1600)
final_size = (224, 448)
scale = max(final_size[0] / image_size[0], final_size[1] / image_size[1])
batch_size = 4                # = number of scene streams per GPU (SceneSequentialSampler)

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
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='SceneSequentialSampler', batch_size=batch_size, shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_train.pkl',
                 data_prefix=data_prefix, pipeline=train_pipeline,
                 modality=dict(use_lidar=True, use_camera=True), test_mode=False,
                 filter_empty_gt=False))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None

# The frozen 2D teacher: DINOv2 ViT-S/14 through timm (LiMA and SuperFlow distil DINOv2
# ViTs; ViT-B/14: model_name='vit_base_patch14_dinov2', 768 channels). Nothing is ever
# downloaded: `pip install timm`, then get the weights on a machine with internet, e.g.
# Meta's `dinov2_vits14_pretrain.pth` (DINOv2 repository's model table) or
#   torch.save(timm.create_model('vit_small_patch14_dinov2.lvd142m', pretrained=True)
#              .state_dict(), 'checkpoints/dinov2_vits14_timm.pth')
# and set `checkpoint` below to the file (docs/lima.md, "Image teacher"). The encoder
# normalises the raw 0..255 images with the ImageNet statistics itself.
image_teacher = dict(
    type='FrozenImageEncoder',
    backbone=dict(type='TimmBackbone', model_name='vit_small_patch14_dinov2',
                  checkpoint='checkpoints/dinov2_vits14_pretrain.pth', img_size=518),
    probe_size=(224, 224))    # stride 14, 384 channels
# Without timm: an ImageNet ResNet-50 from torchvision weights on disk (layer2: stride 8,
# 512 channels), e.g. --cfg-options model.image_encoder.backbone.type=ResNet ... or edit:
resnet_teacher = dict(
    type='FrozenImageEncoder',
    backbone=dict(type='ResNet', depth=50, out_indices=(1,),
                  pretrained='checkpoints/resnet50-0676ba61.pth'))

model = dict(
    type='LiMAPretrainer',
    # images pass raw (0..255): the frozen encoder normalises them itself
    data_preprocessor=dict(type='SegDataPreprocessor', voxel_size=voxel_size,
                           point_cloud_range=point_cloud_range, mean=(0.0, 0.0, 0.0),
                           std=(1.0, 1.0, 1.0)),
    backbone_3d=dict(type='MinkUNet', in_channels=4, base_channels=32,
                     encoder_channels=(32, 64, 128, 256), encoder_blocks=(2, 3, 4, 6),
                     decoder_channels=(256, 128, 96, 96), decoder_blocks=(2, 2, 2, 2)),
    image_encoder=image_teacher,
    embed_dim=64,
    temperature=0.07,
    max_regions=4096,         # 6 cameras x ~150 superpixels x 4 samples ~ 3600 regions
    cross_view=dict(enabled=True, min_shared=3, min_fraction=0.3),
    memory=dict(num_frames=6, voxel_size=0.5, weight=0.5, max_points=40000),
    cross_sequence=dict(enabled=True, weight=1.0, threshold=0.8))

# SuperFlow's pretraining schedule: AdamW (lr 0.01, weight decay 0.01), one-cycle
# (20 % warm-up, div 25, final div 100) over 100 epochs, total batch 32.
lr = 1e-2
max_epochs = 100
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=1e-2,
                                    eps=1e-6),
                     clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='OneCycleLR', eta_max=lr, total_steps=max_epochs, pct_start=0.2, div_factor=25.0,
         final_div_factor=100.0, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs + 1)
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2, save_last=True))
