# MinkUNet-34-sized sparse U-Net for LiDAR semantic segmentation (16 nuScenes lidarseg
# classes, ignore label 16), on unique 0.1 m voxels (mean of x, y, z, intensity per voxel).
# The LiMA pretrainer saves this backbone under the prefix `backbone_3d.`: load it with
# --cfg-options model.init_backbone.checkpoint=PATH (prefix 'backbone_3d.'); linear probing
# adds model.freeze_backbone=True.
# (the grid is the data preprocessor's; keep its range equal to the dataset's)
model = dict(
    type='VoxelSegmentor',
    data_preprocessor=dict(type='SegDataPreprocessor', voxel_size=[0.1, 0.1, 0.1],
                           point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
                           reduce='mean', clip=True),
    backbone=dict(type='MinkUNet', in_channels=4, base_channels=32,
                  encoder_channels=(32, 64, 128, 256), encoder_blocks=(2, 3, 4, 6),
                  decoder_channels=(256, 128, 96, 96), decoder_blocks=(2, 2, 2, 2)),
    head=dict(type='SegHead'),           # Linear(out_channels -> num_classes)
    num_classes=16,
    ignore_index=16,
    freeze_backbone=False,
    init_backbone=dict(checkpoint=None, prefix='backbone_3d.'))   # None: random init
