# Runtime defaults of every experiment: hooks, logging, checkpoints, environment.
# tools/train.py sets work_dir (work_dirs/<config name>), resume/load_from (--resume) and
# the launcher (--launcher pytorch: gloo on CPU, nccl on CUDA).
default_scope = 'perception_kd'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # logs every loss term, lr, time, data time, memory and ETA
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # one checkpoint per epoch (iteration-based loops: set by_epoch=False and interval);
    # perception_kd's CheckpointHook writes atomically (temporary file, fsync, rename) and
    # keeps last_checkpoint relative to the work dir (docs/getting_started.md, resuming)
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # random numbers of an epoch from (seed, epoch): --resume continues the loss curve exactly
    epoch_seed=dict(type='EpochSeedHook'),
    # stops with the iteration and loss terms on a NaN/inf loss (a default hook, so that
    # experiments setting custom_hooks keep it; disable with check_loss=None)
    check_loss=dict(type='CheckInvalidLossHook', interval=1),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # backend None: tools/train.py picks nccl on CUDA, gloo on CPU
    dist_cfg=dict(backend=None, timeout=1800),
)

# scalars go to <work_dir>/<timestamp>/vis_data (scalars.json and TensorBoard events:
# tensorboard --logdir work_dirs/<config name>)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
# mmengine's Visualizer for scalars (_scope_: built without importing the 3D visualisation
# package; its Det3DVisualizationHook draws samples, see perception_kd.visualization)
visualizer = dict(type='Visualizer', vis_backends=vis_backends, _scope_='mmengine')
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
log_level = 'INFO'

load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
