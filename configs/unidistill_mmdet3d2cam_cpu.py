# UniDistill, LiDAR -> camera with an mmdet3d teacher: mmdet3d's CenterPoint
# (configs/mmdet3d_centerpoint_cpu.py, through MMDet3DDetector) teaches the CPU BEVDepth
# camera detector, as configs/unidistill_lidar2cam_cpu.py does with the project's
# CenterPoint. Both heads have the same task groups, so all three losses apply. Needs the
# optional stack (`make mmdet3d`).
#   python tools/train.py configs/mmdet3d_centerpoint_cpu.py        # the teacher, first
#   python tools/train.py configs/unidistill_mmdet3d2cam_cpu.py
# teacher_ckpt may also be a checkpoint of the same model trained by mmdet3d's own tools
# (keys without the bridge's `detector.` prefix).
_base_ = ['./unidistill_lidar2cam_cpu.py']

model = dict(
    teacher='{{ fileDirname }}/mmdet3d_centerpoint_cpu.py',
    teacher_ckpt='work_dirs/mmdet3d_centerpoint_cpu')
