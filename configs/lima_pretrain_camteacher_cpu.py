# LiMA pretraining with another frozen 2D teacher: the image trunk (ResNet-18 + FPN, stride
# 16, 64 channels) of the CPU camera detector configs/bevdepth_cam_cpu.py, trained on the
# detection boxes (with LiDAR depth supervision) instead of the 2D class maps that train
# ImageSegNet (configs/lima_image_teacher_cpu.py). Everything else is
# configs/lima_pretrain_cpu.py. Which teacher teaches better: docs/results.md (LiMA).
#   python tools/train.py configs/bevdepth_cam_cpu.py                 # the camera detector
#   python tools/train.py configs/lima_pretrain_camteacher_cpu.py
# The same pattern points the encoder at any camera detector or distilled camera student
# (prefix 'student.camera_encoder.'), or at DINOv2 / timm weights on disk (docs/lima.md).
_base_ = ['./lima_pretrain_cpu.py']

model = dict(
    image_encoder=dict(
        _delete_=True,
        type='FrozenImageEncoder',
        backbone=dict(type='ResNet', depth=18, out_indices=(2, 3), pretrained=None),
        neck=dict(type='ImageFPN', in_channels=[256, 512], out_channels=64),
        checkpoint='work_dirs/bevdepth_cam_cpu', prefix='camera_encoder.'))
