# nuScenes 3D detection, LiDAR only: keyframe + earlier sweeps, BEV augmentation.
# Works on real nuScenes and on the synthetic tree (tools/make_synthetic.py); build the
# info files first: python tools/create_data.py data/nuscenes --version v1.0-mini
dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
version = 'v1.0-mini'
class_names = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'barrier'
]
metainfo = dict(classes=class_names)
# (x_min, y_min, z_min, x_max, y_max, z_max) in the LiDAR frame, metres
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
input_modality = dict(use_lidar=True, use_camera=False)
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP')
sweeps_num = 9  # earlier sweeps merged into each keyframe (10 frames, as CenterPoint)

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
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        data_prefix=data_prefix,
        pipeline=train_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        test_mode=False,
        filter_empty_gt=True))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        data_prefix=data_prefix,
        pipeline=test_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='NuScenesDetMetric', data_root=data_root,
                     ann_file='nuscenes_infos_val.pkl', version=version)
test_evaluator = val_evaluator
