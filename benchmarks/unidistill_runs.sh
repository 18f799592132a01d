#!/usr/bin/env bash
# The UniDistill comparisons of docs/results.md on the synthetic demo set, through
# tools/compare.py: student alone vs distilled, the cpu_short schedule cut to EPOCHS, one
# run per arm and seed, PROCS runs at a time with THREADS threads each (2-core machine:
# 2 x 1), the paired table with its 95 % t-interval at the end. Needs the teachers:
#   python tools/train.py configs/centerpoint_lidar_cpu.py --work-dir work_dirs/centerpoint_lidar_cpu
#   python tools/train.py configs/bevfusion_cpu_lidarinit.py      # fusion (f2l, f2c)
# Usage: [EPOCHS=6] [SEEDS="0 1 2"] [PROCS=2] [THREADS=1] [WORK=work_dirs/cmp_e$EPOCHS]
#        bash benchmarks/unidistill_runs.sh COMPARISON [COMPARISON ...]
#   l2c           camera alone (arm alone) vs LiDAR -> camera distilled (arm full)
#   fea rel resp  camera alone vs LiDAR -> camera with only that loss term (the ablation)
#   f2l           LiDAR alone (arm lidar) vs fusion -> LiDAR distilled (arm f2l)
#   f2c           camera alone vs fusion -> camera distilled (arm f2c)
#   (default: l2c)
# Runs: $WORK/<arm>/seed<k> (resumable: finished runs are skipped, so an arm shared by two
# comparisons, e.g. alone, and benchmarks/xray_runs.sh's lidar arm, trains once).
# Tables: $WORK/compare_<A>_vs_<B>.{md,json,png}; again without training: add --report-only
# via EXTRA="--report-only".
set -euo pipefail
case ${1:-} in [0-9]*) echo "unidistill_runs.sh: the arguments are comparisons now (l2c fea rel resp f2l f2c); pick seeds with SEEDS=\"$1\"" >&2; exit 2 ;; esac
COMPARISONS=${*:-l2c}
EPOCHS=${EPOCHS:-6}
SEEDS=${SEEDS:-0 1 2}
PROCS=${PROCS:-2}
THREADS=${THREADS:-1}
WORK=${WORK:-work_dirs/cmp_e$EPOCHS}
FUSION_TEACHER=${FUSION_TEACHER:-work_dirs/bevfusion_cpu_lidarinit/epoch_12.pth}
PY=${PY:-python}
CAM=configs/bevdepth_cam_cpu.py
L2C=configs/unidistill_lidar2cam_cpu.py
W=model.distill_losses
compare() {  # config-a config-b name-a name-b [compare.py options ...]
  local a=$1 b=$2 na=$3 nb=$4; shift 4
  # shellcheck disable=SC2086
  $PY tools/compare.py "$a" "$b" --names "$na" "$nb" --work-dir "$WORK" --seeds $SEEDS \
    --epochs "$EPOCHS" --procs "$PROCS" --threads "$THREADS" "$@" ${EXTRA:-} || failed=1
}  # a failed run: go on with the next comparison, exit 1 at the end
failed=0
for c in $COMPARISONS; do
  case $c in
    l2c)  compare $CAM $L2C alone full ;;
    fea)  compare $CAM $L2C alone fea --b-options $W.loss_distill_rel.weight=0 $W.loss_distill_resp.weight=0 ;;
    rel)  compare $CAM $L2C alone rel --b-options $W.loss_distill_fea.weight=0 $W.loss_distill_resp.weight=0 ;;
    resp) compare $CAM $L2C alone resp --b-options $W.loss_distill_fea.weight=0 $W.loss_distill_rel.weight=0 ;;
    f2l)  compare configs/centerpoint_lidar_cpu.py configs/unidistill_fusion2lidar_cpu.py lidar f2l \
            --b-options model.teacher_ckpt="$FUSION_TEACHER" ;;
    f2c)  compare $CAM configs/unidistill_fusion2cam_cpu.py alone f2c \
            --b-options model.teacher_ckpt="$FUSION_TEACHER" ;;
    *) echo "unidistill_runs.sh: unknown comparison $c (l2c fea rel resp f2l f2c)" >&2; exit 2 ;;
  esac
done
exit $failed
