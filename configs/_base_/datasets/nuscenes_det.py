# nuScenes 3D detection: what the LiDAR and the multi-modal data bases share (classes,
# range, info files, loaders, metric). A modality base adds its pipelines and fills the
# loaders in: train/val/test_dataloader = dict(dataset=dict(pipeline=..., data_prefix=...,
# modality=...)). Build the info files first:
#   python tools/create_data.py data/nuscenes --version v1.0-mini
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
sweeps_num = 9  # earlier sweeps merged into each keyframe (10 frames, as CenterPoint)

train_dataloader = dict(
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        metainfo=metainfo,
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
        metainfo=metainfo,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='NuScenesDetMetric', data_root=data_root,
                     ann_file='nuscenes_infos_val.pkl', version=version)
test_evaluator = val_evaluator
