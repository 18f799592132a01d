#!/usr/bin/env bash
# Install the optional mmdet3d stack into a Python environment (default: the project venv
# of `make venv`; `make mmdet3d` calls this). Safe to re-run: it exits early when the
# stack is already importable, and the mmcv wheel is built only once per
# (Python, torch, machine) into a cache outside the clone:
#   ${PKD_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/perception_kd/wheels}/<key>/
#   <key> = py<major><minor>-torch<version, '+' -> '_'>-<machine>, e.g. py311-torch2.13.0_cpu-x86_64
# Copy that folder to another machine with the same key to skip the build there.
#
# Usage: tools/install_mmdet3d.sh [PYTHON] [--wheel-only]
#   PYTHON        interpreter of the environment to install into (default: python3)
#   --wheel-only  build (or find) the mmcv wheel and stop
# Environment: MAX_JOBS (compile jobs, default: CPU count), PKD_WHEEL_CACHE.
#
# The build runs in a throwaway venv that sees PYTHON's packages (torch, numpy) through a
# .pth file and adds setuptools<70 and wheel of its own, so PYTHON's environment is not
# changed by the build. Nothing here edits site-packages of any installed package.
set -euo pipefail

MMCV_VERSION=2.1.0
MMDET_VERSION=3.3.0
MMDET3D_VERSION=1.4.0
LYFT_VERSION=0.0.8   # imported by mmdet3d's converter and metrics; --no-deps (see $REQS)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQS="$HERE/requirements/optional/mmdet3d.txt"

PY=python3
WHEEL_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --wheel-only) WHEEL_ONLY=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) PY=$arg ;;
  esac
done
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "error: $PY cannot import torch; run 'make venv' first or pass the venv's python" >&2
  exit 1
fi

installed() {
  "$PY" - "$MMCV_VERSION" "$MMDET_VERSION" "$MMDET3D_VERSION" <<'EOF' 2>/dev/null
import sys
import mmcv, mmdet, mmdet3d
import mmcv.ops  # noqa: F401  the compiled CPU ops
sys.exit(0 if [mmcv.__version__, mmdet.__version__, mmdet3d.__version__] == sys.argv[1:] else 1)
EOF
}
if [ "$WHEEL_ONLY" = 0 ] && installed; then
  echo "mmdet3d stack already installed for $PY (mmcv $MMCV_VERSION, mmdet $MMDET_VERSION, mmdet3d $MMDET3D_VERSION)"
  exit 0
fi

KEY=$("$PY" -c 'import platform, sys, torch; print(f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.replace(chr(43), chr(95))}-{platform.machine()}")')
CACHE=${PKD_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/perception_kd/wheels}
DIR="$CACHE/$KEY"
mkdir -p "$DIR"
find_wheel() { ls "$DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true; }

exec 9>"$DIR.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi   # one build per key at a time
WHEEL=$(find_wheel)
if [ -z "$WHEEL" ]; then
  JOBS=${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}
  LOG="$DIR/build.log"
  echo "building mmcv $MMCV_VERSION with CPU ops from source, once for $KEY"
  echo "  (77 C++ files: ~12 min on 2 idle cores; hours on a busy machine; MAX_JOBS=$JOBS)"
  echo "  log: $LOG"
  start=$(date +%s)
  BUILD=$(mktemp -d "$DIR/build.XXXXXX")
  trap 'rm -rf "$BUILD"' EXIT
  BASE=$("$PY" -c 'import sys; print(sys._base_executable)')
  "$BASE" -m venv "$BUILD/venv"
  SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  BSITE=$("$BUILD/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$SITE" > "$BSITE/zz_target_env.pth"   # torch, numpy of the target, after our own
  "$BUILD/venv/bin/python" -m pip install -q 'setuptools<70' wheel
  if ! MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$JOBS TMPDIR="$BUILD" \
      "$BUILD/venv/bin/python" -m pip wheel -v --no-deps --no-build-isolation \
      --wheel-dir "$BUILD/out" "mmcv==$MMCV_VERSION" >"$LOG" 2>&1; then
    echo "error: the mmcv build failed; the last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  mv "$BUILD"/out/mmcv-"$MMCV_VERSION"-*.whl "$DIR"/   # complete wheels only
  WHEEL=$(find_wheel)
  echo "mmcv wheel built in $(( $(date +%s) - start )) s: $WHEEL"
else
  echo "using the cached mmcv wheel $WHEEL"
fi
[ "$WHEEL_ONLY" = 1 ] && exit 0

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
FREEZE=$(mktemp)
"$PY" -m pip freeze --exclude-editable | grep -v ' @ ' > "$FREEZE" || true
"$PY" -m pip install -q --no-deps "$WHEEL"
"$PY" -m pip install -q -c "$FREEZE" -r "$REQS"      # nothing already installed changes
"$PY" -m pip install -q --no-deps "mmdet==$MMDET_VERSION" "mmdet3d==$MMDET3D_VERSION" \
  "lyft_dataset_sdk==$LYFT_VERSION"
rm -f "$FREEZE"
if ! installed; then
  echo "error: the mmdet3d stack does not import after the install; try:" >&2
  echo "  $PY -c 'import mmcv.ops, mmdet3d'" >&2
  exit 1
fi
echo "mmdet3d stack ready in $PY: mmcv $MMCV_VERSION (CPU ops), mmdet $MMDET_VERSION, mmdet3d $MMDET3D_VERSION"
echo "interop tests: pytest tests/interop"
