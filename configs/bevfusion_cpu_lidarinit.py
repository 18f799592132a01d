# configs/bevfusion_cpu.py started from the trained LiDAR detector, as BEVFusion trains its
# fusion model: every key of the CPU CenterPoint checkpoint (sparse encoder, BEV backbone,
# neck, CenterHead: same names and shapes in both models) is loaded before the first
# iteration; the camera branch and the fuser start from scratch (mmengine logs them as the
# checkpoint's missing keys). Same schedule and data as configs/bevfusion_cpu.py.
#   python tools/train.py configs/centerpoint_lidar_cpu.py      # first: the LiDAR weights
#   python tools/train.py configs/bevfusion_cpu_lidarinit.py
# Another LiDAR checkpoint: --cfg-options load_from=PATH.pth
_base_ = ['./bevfusion_cpu.py']

load_from = 'work_dirs/centerpoint_lidar_cpu/epoch_12.pth'
