# The demo's distillation (`make demo`): UniDistill LiDAR -> camera as in
# configs/unidistill_lidar2cam_cpu.py (same teacher, losses and published weights), with the
# demo's small camera student (configs/demo_cam_cpu.py) and its 64x176 images.
#   python tools/train.py configs/demo_lidar2cam_cpu.py \
#       --cfg-options model.teacher_ckpt=work_dirs/centerpoint_lidar_cpu/epoch_12.pth
_base_ = ['./unidistill_lidar2cam_cpu.py']

# after _base_: mmengine reads a config that imports before it as a lazy-import config
from perception_kd.utils.config_helpers import adapt_pipeline

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
image_size = (450, 800)
final_size = (64, 176)       # as configs/demo_cam_cpu.py
base_scale = final_size[1] / image_size[1]
resize_lim = [base_scale * 0.86, base_scale * 1.25]

train_pipeline = adapt_pipeline(_base_.train_pipeline, point_cloud_range,
                                ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
test_pipeline = adapt_pipeline(_base_.test_pipeline, point_cloud_range,
                               ImageAug3D=dict(final_size=final_size, resize_lim=resize_lim))
train_dataloader = dict(num_workers=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

model = dict(student='{{ fileDirname }}/demo_cam_cpu.py')
