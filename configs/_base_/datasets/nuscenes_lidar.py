# nuScenes 3D detection, LiDAR only: keyframe + earlier sweeps, BEV augmentation.
# Works on real nuScenes and on the synthetic tree (tools/make_synthetic.py); build the
# info files first: python tools/create_data.py data/nuscenes --version v1.0-mini
_base_ = ['./nuscenes_det.py']

# classes, range and sweeps: the shared base's
class_names = _base_.class_names
point_cloud_range = _base_.point_cloud_range
sweeps_num = _base_.sweeps_num
input_modality = dict(use_lidar=True, use_camera=False)
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP')

train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=sweeps_num, load_dim=5,
         use_dim=[0, 1, 2, 3, 4], remove_close=True, pad_empty_sweeps=True),
    dict(type='LoadAnnotations3D'),
    dict(type='BEVAugmentation', rot_range=[-0.3925, 0.3925], scale_range=[0.95, 1.05],
         flip_x_prob=0.5, flip_y_prob=0.5, translation_std=0.0),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=sweeps_num, load_dim=5,
         use_dim=[0, 1, 2, 3, 4], remove_close=True, pad_empty_sweeps=True, test_mode=True),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points']),
]

train_dataloader = dict(
    batch_size=4,
    dataset=dict(pipeline=train_pipeline, data_prefix=data_prefix, modality=input_modality))
val_dataloader = dict(
    dataset=dict(pipeline=test_pipeline, data_prefix=data_prefix, modality=input_modality))
test_dataloader = val_dataloader
