# UniDistill, fusion -> LiDAR, real nuScenes settings.
# Teacher: the BEVFusion LiDAR + camera detector (configs/bevfusion.py), frozen.
# Student: the CenterPoint LiDAR detector (configs/centerpoint_lidar.py);
# BEV grid 180 x 180 at 0.6 m.
#   python tools/train.py configs/bevfusion.py        # the teacher, first
#   python tools/train.py configs/unidistill_fusion2lidar.py
#   python tools/export_student.py configs/unidistill_fusion2lidar.py \
#       work_dirs/unidistill_fusion2lidar/epoch_N.pth
_base_ = ['./_base_/distill/unidistill.py']

# published fusion -> LiDAR weights (w_fea, w_rel, w_resp) = (10.0, 1.0, 10.0)
model = dict(
    student='{{ fileDirname }}/centerpoint_lidar.py',
    teacher='{{ fileDirname }}/bevfusion.py',
    teacher_ckpt='work_dirs/bevfusion',   # a checkpoint file, or a work dir (its latest)
    distill_losses=dict(
        loss_distill_fea=dict(weight=10.0),
        loss_distill_rel=dict(weight=1.0),
        loss_distill_resp=dict(weight=10.0)))
