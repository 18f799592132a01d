#!/usr/bin/env bash
# The GPU check, one script for one session on a CUDA machine (docs/performance.md, GPU):
#   1. tests/test_cuda.py: ops, the three detectors, the Distiller and tools/train.py --amp
#      on CUDA against CPU results;
#   2. benchmarks/bench_train_speed.py on CUDA: the CPU configs (fp32 and AMP) and the
#      real-nuScenes configs;
#   3. trained on CUDA on the synthetic demo set, side by side, as far as the time budget
#      allows, with the official metric: configs/centerpoint_lidar_cpu.py (12 epochs), and
#      the camera student alone and LiDAR -> camera distilled (CAM_EPOCHS, seeds 0 and 1).
# Usage: [OUT=dir] [BUDGET_S=540] [WORKERS=12] bash benchmarks/gpu_check.sh
# Where the machine lacks our packages, a site tarball (.whl/site.tar.xz: our wheels for
# its Python, unpacked and xz-compressed) is unpacked first; .whl/numpy1.tar.xz is used
# when the imports fail on the machine's numpy. To prepare them for a Python 3.12 machine
# (spconv's wheel alone is 70 MB; its library shrinks to ~21 MB under xz -9, which finds the
# kernels repeated across GPU architectures):
#   W="pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any -d /tmp/w"
#   $W mmengine==0.10.7 addict yapf termcolor pyquaternion spconv-cu126==2.3.8 'cumm-cu126<0.8' \
#      pccm ccimport fire lark nuscenes-devkit==1.2.0 shapely descartes cachetools pycocotools
#   mkdir -p /tmp/site && for w in /tmp/w/*.whl; do unzip -qo $w -d /tmp/site; done
#   tar -cf - -C /tmp/site . | xz -T1 -9 > .whl/site.tar.xz      # ~42 MB, several minutes
#   (numpy1.tar.xz likewise from numpy==1.26.4: ~9 MB; wheels left as .whl/*.whl - e.g.
#   platformdirs, which yapf needs - are unpacked into /tmp/site too)
set -uo pipefail
START=$(date +%s)
OUT=${OUT:-/tmp/gpu_check}
BUDGET_S=${BUDGET_S:-540}
WORKERS=${WORKERS:-12}
DATA=${DATA:-data/nuscenes}   # generated there unless it has info files already
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }
log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*"; }

if [ -f .whl/site.tar.xz ]; then
  mkdir -p /tmp/site && tar -xJf .whl/site.tar.xz -C /tmp/site
  for w in .whl/*.whl; do [ -f "$w" ] && python3 -m zipfile -e "$w" /tmp/site; done  # extras
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
IMPORTS='import perception_kd, spconv, nuscenes.eval.detection.evaluate, torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
if ! python3 -c "$IMPORTS" > "$OUT/imports.log" 2>&1 && [ -f .whl/numpy1.tar.xz ]; then
  log "imports failed on numpy $(python3 -c 'import numpy; print(numpy.__version__)'); trying numpy 1.26"
  tail -n 5 "$OUT/imports.log"
  mkdir -p /tmp/numpy1 && tar -xJf .whl/numpy1.tar.xz -C /tmp/numpy1
  export PYTHONPATH=/tmp/numpy1:$PYTHONPATH
  python3 -c "$IMPORTS" > "$OUT/imports.log" 2>&1
fi
cat "$OUT/imports.log" | tail -n 3
nvidia-smi -L
log "setup done"

# the demo set, generated while the tests run
DATA_PID=
if [ -f "$DATA/nuscenes_infos_val.pkl" ]; then
  echo "using $DATA" > "$OUT/data.log"
else
  ( t0=$(date +%s); python3 tools/make_synthetic.py --out "$DATA" --seed 0 --workers "$WORKERS" > "$OUT/data.log" 2>&1 &&
    python3 tools/create_data.py "$DATA" --version v1.0-mini --no-progress >> "$OUT/data.log" 2>&1 &&
    echo "dataset in $(( $(date +%s) - t0 )) s" >> "$OUT/data.log" ) &
  DATA_PID=$!
fi

log "CUDA tests"
timeout 240 python3 -m pytest -q -p no:cacheprovider -n 4 tests/test_cuda.py > "$OUT/cuda_tests.log" 2>&1
echo "pytest rc $?"; tail -n 15 "$OUT/cuda_tests.log"

[ -n "$DATA_PID" ] && { wait $DATA_PID; echo "data rc $?"; }; tail -n 3 "$OUT/data.log"
log "voxelization and training speed"
timeout 30 python3 benchmarks/bench_voxelize.py --device cuda 2>&1 | grep -v Warning | tail -n 6
for args in "" "--amp"; do
  timeout 120 python3 benchmarks/bench_train_speed.py --device cuda \
    --threads 4 --iters 6 --data-root "$DATA/" $args 2>&1 | grep -v Warning | tail -n 5
done
timeout 150 python3 benchmarks/bench_train_speed.py --device cuda \
  --threads 4 --iters 6 --data-root "$DATA/" --amp \
  --configs configs/centerpoint_lidar.py configs/bevdepth_cam.py configs/bevfusion.py 2>&1 | grep -v Warning | tail -n 5

# Trainings on the demo set, side by side on the one GPU until the budget ends (each
# validates at its val_interval, so a run cut short still reports its earlier points):
#   lidar        configs/centerpoint_lidar_cpu.py, its 12-epoch schedule
#   cam_sS       configs/bevdepth_cam_cpu.py, CAM_EPOCHS epochs, seed S
#   l2c_sS       configs/unidistill_lidar2cam_cpu.py, same schedule and seed, teacher
#                TEACHER (carried from the CPU machine) when it exists
CAM_EPOCHS=${CAM_EPOCHS:-36}
TEACHER=${TEACHER:-work_dirs/centerpoint_lidar_cpu/epoch_12.pth}
E=$CAM_EPOCHS
sched="train_cfg.max_epochs=$E train_cfg.val_interval=12 param_scheduler.1.end=$E param_scheduler.1.T_max=$((E - 1))"
log "trainings, $(left) s left"
train() {  # name config options...
  local name=$1 config=$2; shift 2
  timeout $(( $(left) - 15 )) python3 tools/train.py "$config" --work-dir "/tmp/wd_$name" \
    --cfg-options train_dataloader.num_workers=2 val_dataloader.num_workers=2 "$@" \
    > "$OUT/train_$name.log" 2>&1
  echo "train $name rc $?"
}
pids=()
if [ "$(left)" -gt 90 ]; then
  train lidar configs/centerpoint_lidar_cpu.py & pids+=($!)
  for s in 0 1; do
    train cam_s$s configs/bevdepth_cam_cpu.py $sched randomness.seed=$s & pids+=($!)
    [ -f "$TEACHER" ] && { train l2c_s$s configs/unidistill_lidar2cam_cpu.py $sched randomness.seed=$s \
      model.teacher_ckpt=$TEACHER & pids+=($!); }
  done
  for p in "${pids[@]}"; do wait "$p"; done
  for f in "$OUT"/train_*.log; do
    echo "== $f"; grep -E "Epoch\(train\).*\[80/80\]" "$f" | tail -n 1 | cut -c1-200
    grep -E "Epoch\(val\).*NuScenes/mAP" "$f" | grep -oE "Epoch\(val\) \[[0-9]+\]|NuScenes/(mAP|NDS): [0-9.]+" | paste -sd' '
  done
fi
log "done"
