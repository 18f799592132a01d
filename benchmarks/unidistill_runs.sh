#!/usr/bin/env bash
# The UniDistill comparisons of docs/results.md on the synthetic demo set: students alone
# and distilled, same shortened cpu_short schedule (EPOCHS) and seed, run side by side with
# one thread each (2-core machine: two at a time). Needs the teachers:
#   python tools/train.py configs/centerpoint_lidar_cpu.py --work-dir work_dirs/centerpoint_lidar_cpu
#   python tools/train.py configs/bevfusion_cpu_lidarinit.py      # fusion (f2l, f2c)
# Usage: bash benchmarks/unidistill_runs.sh SEED [variant ...]
#   variants: alone full fea rel resp   LiDAR -> camera: camera alone, distilled, ablation
#             lidar f2l                 fusion -> LiDAR: LiDAR alone, distilled
#             f2c                       fusion -> camera (camera alone: alone)
#   (default: alone full)
# Then: python benchmarks/collect_metrics.py work_dirs/ud_*
set -euo pipefail
SEED=${1:?seed}; shift
VARIANTS=${*:-alone full}
EPOCHS=${EPOCHS:-6}
FUSION_TEACHER=${FUSION_TEACHER:-work_dirs/bevfusion_cpu_lidarinit/epoch_12.pth}
PY=${PY:-python}
sched="train_cfg.max_epochs=$EPOCHS train_cfg.val_interval=$EPOCHS param_scheduler.1.end=$EPOCHS param_scheduler.1.T_max=$((EPOCHS - 1)) randomness.seed=$SEED"
run() {  # name config extra-options...
  local name=$1 config=$2; shift 2
  OMP_NUM_THREADS=1 $PY tools/train.py "$config" --work-dir "work_dirs/ud_${name}_e${EPOCHS}_s${SEED}" \
    --cfg-options $sched "$@" > "work_dirs/ud_${name}_e${EPOCHS}_s${SEED}.log" 2>&1
}
pids=()
for v in $VARIANTS; do
  case $v in
    alone) run alone configs/bevdepth_cam_cpu.py & ;;
    full)  run full configs/unidistill_lidar2cam_cpu.py & ;;
    fea)   run fea configs/unidistill_lidar2cam_cpu.py model.distill_losses.loss_distill_rel.weight=0 model.distill_losses.loss_distill_resp.weight=0 & ;;
    rel)   run rel configs/unidistill_lidar2cam_cpu.py model.distill_losses.loss_distill_fea.weight=0 model.distill_losses.loss_distill_resp.weight=0 & ;;
    resp)  run resp configs/unidistill_lidar2cam_cpu.py model.distill_losses.loss_distill_fea.weight=0 model.distill_losses.loss_distill_rel.weight=0 & ;;
    lidar) run lidar configs/centerpoint_lidar_cpu.py & ;;
    f2l)   run f2l configs/unidistill_fusion2lidar_cpu.py model.teacher_ckpt=$FUSION_TEACHER & ;;
    f2c)   run f2c configs/unidistill_fusion2cam_cpu.py model.teacher_ckpt=$FUSION_TEACHER & ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
