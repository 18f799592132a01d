# UniDistill, camera -> LiDAR, sized for CPU on the synthetic nuScenes set.
# Teacher: the CPU BEVDepth camera detector (configs/bevdepth_cam_cpu.py), frozen.
# Student: the CPU CenterPoint (configs/centerpoint_lidar_cpu.py). The teacher is the
# weaker model here, so (as the paper) a one-layer conv adapter sits on the student's
# low- and high-level maps before the feature and relation losses; adapters train with
# the student and are dropped by tools/export_student.py.
#   python tools/train.py configs/bevdepth_cam_cpu.py          # the teacher, first
#   python tools/train.py configs/unidistill_cam2lidar_cpu.py
_base_ = ['./_base_/distill/unidistill_cpu.py']

bev_channels = 64   # bev_low and bev_high width of both CPU models
# published camera -> LiDAR weights (w_fea, w_rel, w_resp) = (10, 5, 1)
model = dict(
    student='{{ fileDirname }}/centerpoint_lidar_cpu.py',
    teacher='{{ fileDirname }}/bevdepth_cam_cpu.py',
    teacher_ckpt='work_dirs/bevdepth_cam_cpu',   # a checkpoint file, or a work dir (its latest)
    adapters=dict(
        low=dict(type='ConvAdapter', in_channels=bev_channels, out_channels=bev_channels,
                 kernel_size=3),
        high=dict(type='ConvAdapter', in_channels=bev_channels, out_channels=bev_channels,
                  kernel_size=3)),
    distill_losses=dict(
        loss_distill_fea=dict(weight=10.0, adapter='low'),
        loss_distill_rel=dict(weight=5.0, adapter='high'),
        loss_distill_resp=dict(weight=1.0)))
