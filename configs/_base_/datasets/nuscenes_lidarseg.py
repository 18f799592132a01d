# nuScenes LiDAR semantic segmentation (lidarseg, 16 classes + ignore 16): keyframe points
# only (x, y, z, intensity), no sweeps. Labels: LoadLidarsegLabels (devkit 32 -> 16 map).
# Training: rotation/scale/flip, range filter, shuffle. Test: every keyframe point, in file
# order (the preprocessor clips out-of-range points into the grid), as the devkit wants.
# Works on real nuScenes with lidarseg and on the synthetic tree (tools/make_synthetic.py);
# build the infos first: python tools/create_data.py data/nuscenes --version v1.0-mini
dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
version = 'v1.0-mini'
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
input_modality = dict(use_lidar=True, use_camera=False)
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP')
scan_fraction = 1.0   # label fraction of the training scans (0.01, 0.1, 1.0)
subset_seed = 0       # the same subset for every compared method

train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=4),
    dict(type='LoadLidarsegLabels'),
    dict(type='BEVAugmentation', rot_range=[-3.1416, 3.1416], scale_range=[0.95, 1.05],
         flip_x_prob=0.5, flip_y_prob=0.5, translation_std=0.1),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=4),
    dict(type='LoadLidarsegLabels'),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask']),
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
        modality=input_modality,
        test_mode=False,
        filter_empty_gt=False,
        scan_fraction=scan_fraction,
        subset_seed=subset_seed))
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
        modality=input_modality,
        test_mode=True,
        filter_empty_gt=False))
test_dataloader = val_dataloader

# mIoU by the devkit's rule; results_dir=PATH also writes the devkit's results files
# (<results_dir>/lidarseg/<eval_set>/*_lidarseg.bin + <eval_set>/submission.json)
val_evaluator = dict(type='LidarSegMetric', results_dir=None, eval_set='mini_val')
test_evaluator = val_evaluator
