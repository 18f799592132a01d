# UniDistill, LiDAR -> LiDAR into an mmdet3d student: the project's CPU CenterPoint
# (configs/centerpoint_lidar_cpu.py) teaches mmdet3d's CenterPoint at the same grid
# (configs/mmdet3d_centerpoint_cpu.py, through MMDet3DDetector), with the fusion -> LiDAR
# weights of configs/unidistill_fusion2lidar_cpu.py. Needs the optional stack
# (`make mmdet3d`). tools/export_student.py writes the student's weights; strip the
# `detector.` prefix of its keys to load them in mmdet3d's own tools.
#   python tools/train.py configs/centerpoint_lidar_cpu.py          # the teacher, first
#   python tools/train.py configs/unidistill_lidar2mmdet3d_cpu.py
_base_ = ['./unidistill_fusion2lidar_cpu.py']

model = dict(
    student='{{ fileDirname }}/mmdet3d_centerpoint_cpu.py',
    teacher='{{ fileDirname }}/centerpoint_lidar_cpu.py',
    teacher_ckpt='work_dirs/centerpoint_lidar_cpu')
