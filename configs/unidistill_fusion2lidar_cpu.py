# UniDistill, fusion -> LiDAR, sized for CPU on the synthetic nuScenes set.
# Teacher: the BEVFusion LiDAR + camera detector (configs/bevfusion_cpu.py), frozen.
# Student: the CenterPoint LiDAR detector (configs/centerpoint_lidar_cpu.py);
# BEV grid 128 x 128 at 0.8 m.
#   python tools/train.py configs/bevfusion_cpu.py        # the teacher, first
#   python tools/train.py configs/unidistill_fusion2lidar_cpu.py
#   python tools/export_student.py configs/unidistill_fusion2lidar_cpu.py \
#       work_dirs/unidistill_fusion2lidar_cpu/epoch_N.pth
_base_ = ['./_base_/distill/unidistill_cpu.py']

# published fusion -> LiDAR weights (w_fea, w_rel, w_resp) = (10.0, 1.0, 10.0)
model = dict(
    student='{{ fileDirname }}/centerpoint_lidar_cpu.py',
    teacher='{{ fileDirname }}/bevfusion_cpu.py',
    teacher_ckpt='work_dirs/bevfusion_cpu',   # a checkpoint file, or a work dir (its latest)
    distill_losses=dict(
        loss_distill_fea=dict(weight=10.0),
        loss_distill_rel=dict(weight=1.0),
        loss_distill_resp=dict(weight=10.0)))
