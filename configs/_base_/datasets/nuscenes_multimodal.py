# nuScenes 3D detection, LiDAR + 6 cameras: keyframe + sweeps, per-image augmentation
# (ImageAug3D: img_aug_matrix, lidar2img) and BEV augmentation (bda_mat) applied together,
# so that teacher and student of any modality see the same world.
# Build the info files first: python tools/create_data.py data/nuscenes --version v1.0-mini
_base_ = ['./nuscenes_det.py']

# classes, range and sweeps: the shared base's
class_names = _base_.class_names
point_cloud_range = _base_.point_cloud_range
sweeps_num = _base_.sweeps_num
input_modality = dict(use_lidar=True, use_camera=True)
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP',
                   **{cam: f'samples/{cam}' for cam in cameras})

# Source images (H, W) and network input size; the resize range is BEVFusion's for
# 1600x900 -> 256x704 (scale about 0.38..0.55), written relative to the sizes.
# The synthetic demo set is rendered at 800x450; set (900, 1600) for real nuScenes.
image_size = (450, 800)
final_size = (256, 704)
base_scale = final_size[1] / image_size[1]
resize_lim = [base_scale * 0.86, base_scale * 1.25]

train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=sweeps_num, load_dim=5,
         use_dim=[0, 1, 2, 3, 4], remove_close=True, pad_empty_sweeps=True),
    dict(type='LoadMultiViewImages', cam_names=cameras),
    dict(type='LoadAnnotations3D'),
    dict(type='ImageAug3D', final_size=final_size, resize_lim=resize_lim,
         bot_pct_lim=[0.0, 0.0], rot_lim=[-5.4, 5.4], rand_flip=True, is_train=True),
    dict(type='BEVAugmentation', rot_range=[-0.3925, 0.3925], scale_range=[0.95, 1.05],
         flip_x_prob=0.5, flip_y_prob=0.5, translation_std=0.0),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=sweeps_num, load_dim=5,
         use_dim=[0, 1, 2, 3, 4], remove_close=True, pad_empty_sweeps=True, test_mode=True),
    dict(type='LoadMultiViewImages', cam_names=cameras),
    dict(type='ImageAug3D', final_size=final_size, resize_lim=resize_lim,
         bot_pct_lim=[0.0, 0.0], is_train=False),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points', 'img']),
]

train_dataloader = dict(
    batch_size=2,
    dataset=dict(pipeline=train_pipeline, data_prefix=data_prefix, modality=input_modality))
val_dataloader = dict(
    dataset=dict(pipeline=test_pipeline, data_prefix=data_prefix, modality=input_modality))
test_dataloader = val_dataloader

val_evaluator = dict(modality=input_modality)
test_evaluator = val_evaluator
