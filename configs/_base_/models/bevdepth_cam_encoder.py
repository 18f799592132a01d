# The BEVDepth-style camera encoder (ResNet-50 -> image FPN -> LSS with LiDAR-supervised
# depth), alone, so that the camera model (bevdepth_cam.py) and the fusion model
# (bevfusion.py) share one definition. Real nuScenes geometry: 256x704 input images,
# feature stride 16, BEV 180 x 180 at 0.6 m over +-54 m (the LiDAR CenterPoint grid).
camera_encoder = dict(
    type='CameraBEVEncoder',
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(2, 3),          # layer3, layer4: strides 16, 32
        frozen_stages=0,             # stem frozen (BEVDepth)
        norm_eval=False,
        pretrained=None),            # torchvision ImageNet .pth path (see configs/bevdepth_cam.py)
    neck=dict(type='ImageFPN', in_channels=[1024, 2048], out_channels=256),
    view_transform=dict(
        type='DepthLSSTransform',
        in_channels=256,
        out_channels=80,             # camera bev_low channels
        mid_channels=256,
        point_cloud_range=[-54.0, -54.0, -5.0, 54.0, 54.0, 3.0],
        bev_cell=0.6,
        dbound=(1.0, 60.0, 0.5),     # 118 depth bins
        z_range=(-5.0, 3.0),
        camera_aware=True,
        loss_depth_weight=3.0,
        depth_from_keyframe=True),
    bev_convs=0)
