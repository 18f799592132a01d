# Detection fine-tuning from a LiMA-pretrained MinkUNet-34 on real nuScenes (v1.0-trainval):
# the CenterPoint LiDAR detector of configs/centerpoint_lidar.py, its sparse encoder
# initialised from the backbone of configs/lima_pretrain.py where shapes allow
# (docs/lima.md, "Detection fine-tuning"), trained on `scan_fraction` of the training scans
# (5 % by default, as LiMA's detection table; subset_seed=0 for every method), mAP/NDS on val.
#   tools/dist_train.sh configs/lima_det_finetune.py 8 \
#       --cfg-options model.lidar_encoder.init_sparse_encoder.checkpoint=work_dirs/lima_pretrain
#   (checkpoint=None: the random-init control, everything else identical)
# As in lima_det_finetune_cpu.py the detector sees what the MinkUNet saw: keyframe points
# only, 4 features (x, y, z, intensity), 0.1 m cubic voxels; the sparse encoder has the
# MinkUNet-34 encoder's widths and depths (base 32; stages 32 / 32 / 64 / 128 with
# 1 / 2 / 3 / 4 residual blocks), so 18 of its 24 conv blocks transfer. BEV 128 x 128 at
# 0.8 m (CenterPoint's 0.1 m-voxel setting).
_base_ = ['./centerpoint_lidar.py']

version = 'v1.0-trainval'
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.1, 0.1, 0.1]   # 1024 x 1024 x 80 voxels, the pretraining grid's voxels
bev_cell = 0.8                 # voxel 0.1 x total stride 8 -> BEV 128 x 128
scan_fraction = 0.05
subset_seed = 0


def _keyframe_only(pipeline, pcr):
    steps = []
    for step in pipeline:
        if step['type'] == 'LoadPointsFromMultiSweeps':
            continue
        step = dict(step)
        if step['type'] == 'LoadPointsFromFile':
            step['use_dim'] = 4
        if 'point_cloud_range' in step:
            step['point_cloud_range'] = list(pcr)
        steps.append(step)
    return steps


train_pipeline = _keyframe_only(_base_.train_pipeline, point_cloud_range)
test_pipeline = _keyframe_only(_base_.test_pipeline, point_cloud_range)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, scan_fraction=scan_fraction,
                                     subset_seed=subset_seed))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_evaluator = dict(version=version)
test_evaluator = val_evaluator

model = dict(
    data_preprocessor=dict(voxelize_cfg=dict(voxel_size=voxel_size,
                                             point_cloud_range=point_cloud_range)),
    lidar_encoder=dict(
        voxel_encoder=dict(num_features=4),                 # x, y, z, intensity (mean)
        sparse_encoder=dict(
            in_channels=4,
            voxel_size=voxel_size,
            point_cloud_range=point_cloud_range,
            base_channels=32,
            stage_channels=(32, 32, 64, 128),
            stage_blocks=(1, 2, 3, 4),
            stage_strides=(1, 2, 2, 2),       # x/y: 1024 -> 128
            stage_z_paddings=(1, 1, 1, 0),    # z: 81 -> 41 -> 21 -> 10
            out_channels=128),                # conv_out z: 10 -> 4, BEV channels 128 * 4 = 512
        bev_cell=bev_cell,
        init_sparse_encoder=dict(checkpoint='work_dirs/lima_pretrain', prefix='backbone_3d.')),
    bev_backbone=dict(in_channels=512),
    head=dict(point_cloud_range=point_cloud_range, bev_cell=bev_cell))
