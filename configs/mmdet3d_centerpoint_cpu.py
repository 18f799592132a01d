# mmdet3d's CenterPoint (its own classes, built by mmdet3d's registry) trained and evaluated
# in this framework through MMDet3DDetector (perception_kd/models/mmdet3d_bridge.py), at the
# grid, input and widths of configs/centerpoint_lidar_cpu.py: +-51.2 m, voxel 0.1 m, 3 LiDAR
# frames of 5 features, BEV 128 x 128 at 0.8 m, the same six task groups. Needs the optional
# stack (`make mmdet3d`); docs/mmdet3d.md.
#   python tools/train.py configs/mmdet3d_centerpoint_cpu.py
# It can teach any project student on that grid (configs/unidistill_mmdet3d2cam_cpu.py) or
# be taught (configs/unidistill_lidar2mmdet3d_cpu.py).
_base_ = ['./centerpoint_lidar_cpu.py']

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.1, 0.1, 0.2]
tasks = [['car'], ['truck', 'construction_vehicle'], ['bus', 'trailer'], ['barrier'],
         ['motorcycle', 'bicycle'], ['pedestrian', 'traffic_cone']]

model = dict(
    _delete_=True,
    type='MMDet3DDetector',
    detector=dict(
        type='CenterPoint',
        data_preprocessor=dict(
            type='Det3DDataPreprocessor', voxel=True,
            voxel_layer=dict(max_num_points=10, voxel_size=voxel_size,
                             point_cloud_range=point_cloud_range,
                             max_voxels=(40000, 40000))),
        pts_voxel_encoder=dict(type='HardSimpleVFE', num_features=5),
        # the project's CPU encoder: 8 -> 16 -> 32 -> 32, two submanifold convs after each
        # strided conv (ours: one residual block), z 41 -> 21 -> 11 -> 5 -> 2, BEV
        # 32 x 2 = 64 channels
        pts_middle_encoder=dict(
            type='SparseEncoder', in_channels=5, sparse_shape=[41, 1024, 1024],
            base_channels=8, output_channels=32, order=('conv', 'norm', 'act'),
            encoder_channels=((8, ), (16, 16, 16), (32, 32, 32), (32, 32, 32)),
            encoder_paddings=((1, ), (1, 1, 1), (1, 1, 1), ((0, 1, 1), 1, 1)),
            block_type='conv_module'),
        pts_backbone=dict(
            type='SECOND', in_channels=64, out_channels=[32, 64], layer_nums=[1, 1],
            layer_strides=[1, 2], norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
            conv_cfg=dict(type='Conv2d', bias=False)),
        pts_neck=dict(
            type='SECONDFPN', in_channels=[32, 64], out_channels=[32, 32],
            upsample_strides=[1, 2], norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
            upsample_cfg=dict(type='deconv', bias=False), use_conv_for_no_stride=True),
        pts_bbox_head=dict(
            type='CenterHead', in_channels=64,
            tasks=[dict(num_class=len(t), class_names=t) for t in tasks],
            common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
            share_conv_channel=32,
            bbox_coder=dict(
                type='CenterPointBBoxCoder', pc_range=point_cloud_range[:2],
                post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0], max_num=500,
                score_threshold=0.1, out_size_factor=8, voxel_size=voxel_size[:2], code_size=9),
            separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=1,
                               head_conv=16),
            loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
            loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
            norm_bbox=True),
        train_cfg=dict(pts=dict(
            grid_size=[1024, 1024, 40], voxel_size=voxel_size, out_size_factor=8, dense_reg=1,
            gaussian_overlap=0.1, max_objs=500, min_radius=2, point_cloud_range=point_cloud_range,
            code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2])),
        test_cfg=dict(pts=dict(
            post_center_limit_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0], max_per_img=500,
            max_pool_nms=False, min_radius=[4, 12, 10, 1, 0.85, 0.175], score_threshold=0.1,
            pc_range=point_cloud_range[:2], out_size_factor=8, voxel_size=voxel_size[:2],
            nms_type='rotate', pre_max_size=1000, post_max_size=83, nms_thr=0.2))))
