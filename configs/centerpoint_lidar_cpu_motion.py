# The CPU CenterPoint (configs/centerpoint_lidar_cpu.py) with the motion changes of the
# motion issue (docs/results.md, "LiDAR velocity"), opt-in while they are measured:
# - voxel features divided by (51.2, 51.2, 5, 25.5, 0.1) for (x, y, z, intensity, time lag),
#   recorded in the checkpoint (MeanVFE.feature_scale; another scaling is refused on load);
#   intensity by 25.5, not 255: at /255 its spread (~14 in this world) fell 3-13x below the
#   other channels' and the detector lost the cue that tells bicycles (25) from motorcycles
#   (30) (docs/results.md, "the intensity scale");
# - a SweepOccupancyBEV branch: per-time-bin point counts of the keyframe and each sweep on
#   a 0.2 m grid, folded into the 0.8 m BEV cell and added to the sparse encoder's BEV map,
#   so that the trail of a moving object is a displacement between channels;
# - the nearest 2 sweeps in training, as at test (time bins must hold the same lags);
# - the velocity regressed with an L2 loss (half the squared error; L1 settles at the median,
#   0);
# - a motion path of its own to the head (docs/results.md, "a motion path to the velocity
#   branch"): the sweep-occupancy map also goes, beside the shared features, into the
#   velocity and heading branches (3x3 convs, dilation 3: +-7 cells, so that the centre of a
#   bus sees the trail at its ends), at velocity weight 1.0 while the velocity gradient into
#   the shared trunk is scaled by 0.1 (the trunk stays with detection). Without this path
#   the velocity had to come through the trunk, where at weights 0.1-0.5 it cost mAP and on
#   the demo world's 160 keyframes it was hardly learned (mAVE 3.32 against 3.47 at zero).
#   python tools/train.py configs/centerpoint_lidar_cpu_motion.py
_base_ = ['./centerpoint_lidar_cpu.py']

from perception_kd.utils.config_helpers import adapt_pipeline

train_pipeline = adapt_pipeline(
    _base_.train_pipeline, LoadPointsFromMultiSweeps=dict(test_mode=True))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

model = dict(
    lidar_encoder=dict(
        voxel_encoder=dict(feature_scale=(51.2, 51.2, 5.0, 25.5, 0.1)),
        motion_encoder=dict(type='SweepOccupancyBEV', fine_cell=0.2,
                            time_edges=(0.05, 0.15, 0.25), hidden_channels=32),
        motion_side=True),
    head=dict(code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
              velocity_loss='l2',
              velocity_side_channels=64,         # the sparse encoder's BEV channels
              side_branches=['vel', 'rot'],
              velocity_kernel=3,
              velocity_dilation=3,
              velocity_grad_scale=0.1))
