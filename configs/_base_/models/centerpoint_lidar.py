# CenterPoint (voxel 0.075 m, VoxelResBackBone8x-like sparse encoder, SECOND + SECONDFPN,
# CenterHead with the 6 nuScenes task groups) as a perception_kd BEVDetector.
# Real nuScenes geometry: range +-54 m, 1440 x 1440 x 40 voxels -> BEV 180 x 180 at 0.6 m.
# Experiment configs that change the range / voxel / cell must update every copy below
# (data_preprocessor.voxelize_cfg, lidar_encoder.sparse_encoder, head).
model = dict(
    type='BEVDetector',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxelize_cfg=dict(
            voxel_size=[0.075, 0.075, 0.2],
            point_cloud_range=[-54.0, -54.0, -5.0, 54.0, 54.0, 3.0],
            max_num_points=10,
            max_voxels=(90000, 120000))),  # (train, test), as CenterPoint
    lidar_encoder=dict(
        type='LidarBEVEncoder',
        voxel_encoder=dict(type='MeanVFE', num_features=5),  # x, y, z, intensity, time lag
        sparse_encoder=dict(
            type='SparseEncoder',
            in_channels=5,
            voxel_size=[0.075, 0.075, 0.2],
            point_cloud_range=[-54.0, -54.0, -5.0, 54.0, 54.0, 3.0],
            base_channels=16,
            stage_channels=(16, 32, 64, 128),
            stage_blocks=(2, 2, 2, 2),
            stage_strides=(1, 2, 2, 2),      # x/y: 1440 -> 180 (cells of 0.6 m)
            stage_z_paddings=(1, 1, 1, 0),   # z: 41 -> 21 -> 11 -> 5
            out_channels=128,                # conv_out z: 5 -> 2, BEV channels 128 * 2 = 256
            block_type='basic'),
        bev_cell=0.6),
    bev_backbone=dict(type='SECONDBackbone', in_channels=256, out_channels=(128, 256),
                      layer_nums=(5, 5), layer_strides=(1, 2)),
    bev_neck=dict(type='SECONDFPN', in_channels=(128, 256), out_channels=(256, 256),
                  upsample_strides=(1, 2)),
    head=dict(
        type='CenterHead',
        in_channels=512,
        point_cloud_range=[-54.0, -54.0, -5.0, 54.0, 54.0, 3.0],
        bev_cell=0.6,
        class_names=['car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
                     'motorcycle', 'pedestrian', 'traffic_cone', 'barrier'],
        tasks=[['car'], ['truck', 'construction_vehicle'], ['bus', 'trailer'], ['barrier'],
               ['motorcycle', 'bicycle'], ['pedestrian', 'traffic_cone']],
        share_channels=64,
        head_channels=64,
        num_head_convs=2,
        with_velocity=True,
        gaussian_overlap=0.1,
        min_radius=2,
        # (du, dv, z, log l, log w, log h, sin, cos, vx, vy)
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2],
        loss_heatmap_weight=1.0,
        loss_bbox_weight=0.25,
        test_cfg=dict(
            score_threshold=0.1,
            max_num=500,
            post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
            nms_type='rotate',
            nms_thr=0.2,
            pre_max=1000,
            post_max=83,
            max_per_sample=500)))
