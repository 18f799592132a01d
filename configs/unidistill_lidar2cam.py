# UniDistill, LiDAR -> camera, real nuScenes settings.
# Teacher: the CenterPoint LiDAR detector (configs/centerpoint_lidar.py), frozen.
# Student: the BEVDepth camera detector (configs/bevdepth_cam.py);
# BEV grid 180 x 180 at 0.6 m.
# A 1x1 conv adapter maps the student's low-level width (80 channels) to the teacher's (256).
# Adapters train with the student; tools/export_student.py drops them.
#   python tools/train.py configs/centerpoint_lidar.py        # the teacher, first
#   python tools/train.py configs/unidistill_lidar2cam.py
#   python tools/export_student.py configs/unidistill_lidar2cam.py \
#       work_dirs/unidistill_lidar2cam/epoch_N.pth
_base_ = ['./_base_/distill/unidistill.py']

# published LiDAR -> camera weights (w_fea, w_rel, w_resp) = (100.0, 40.0, 10.0)
model = dict(
    student='{{ fileDirname }}/bevdepth_cam.py',
    teacher='{{ fileDirname }}/centerpoint_lidar.py',
    teacher_ckpt='work_dirs/centerpoint_lidar',   # a checkpoint file, or a work dir (its latest)
    adapters=dict(low=dict(type='ConvAdapter', in_channels=80, out_channels=256, kernel_size=1)),
    distill_losses=dict(
        loss_distill_fea=dict(weight=100.0, adapter='low'),
        loss_distill_rel=dict(weight=40.0),
        loss_distill_resp=dict(weight=10.0)))
