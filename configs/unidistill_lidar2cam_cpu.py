# UniDistill, LiDAR -> camera, sized for CPU on the synthetic nuScenes set (make demo).
# Teacher: the CPU CenterPoint (configs/centerpoint_lidar_cpu.py), frozen, loaded once.
# Student: the CPU BEVDepth camera detector (configs/bevdepth_cam_cpu.py), trained with its
# own losses plus the three distillation losses on the shared BEV grid (128 x 128, 0.8 m).
#   python tools/train.py configs/centerpoint_lidar_cpu.py      # the teacher, first
#   python tools/train.py configs/unidistill_lidar2cam_cpu.py
#   python tools/export_student.py configs/unidistill_lidar2cam_cpu.py \
#       work_dirs/unidistill_lidar2cam_cpu/epoch_12.pth       # -> a plain camera checkpoint
_base_ = ['./_base_/distill/unidistill_cpu.py']

# published LiDAR -> camera weights (w_fea, w_rel, w_resp) = (100, 40, 10)
model = dict(
    student='{{ fileDirname }}/bevdepth_cam_cpu.py',
    teacher='{{ fileDirname }}/centerpoint_lidar_cpu.py',
    teacher_ckpt='work_dirs/centerpoint_lidar_cpu',   # a checkpoint file, or a work dir
    distill_losses=dict(
        loss_distill_fea=dict(weight=100.0),
        loss_distill_rel=dict(weight=40.0),
        loss_distill_resp=dict(weight=10.0)))
