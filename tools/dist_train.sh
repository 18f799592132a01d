#!/usr/bin/env bash
# Distributed training on one machine (or several) through torchrun.
#
#   tools/dist_train.sh CONFIG NPROC [train.py args ...]
#   tools/dist_train.sh configs/centerpoint_lidar_cpu.py 2 --work-dir work_dirs/ddp
#
# CPU-only machines use gloo, CUDA machines nccl (tools/train.py --launcher pytorch picks).
# Environment: PYTHON (default python), NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1),
# PORT (on one node: a free port is chosen unless PORT is set).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC [tools/train.py arguments ...]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
case "$NPROC" in
    ''|*[!0-9]*|0) echo "$0: NPROC must be a positive integer, got '$NPROC'" >&2; exit 2 ;;
esac

PYTHON=${PYTHON:-python}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$NNODES" = 1 ] && [ -z "${PORT:-}" ]; then
    RDZV=(--standalone)  # single node: torchrun picks a free port
else
    RDZV=(--nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR"
          --master_port="${PORT:-29500}")
fi

exec "$PYTHON" -m torch.distributed.run "${RDZV[@]}" --nproc_per_node="$NPROC" \
    "$TOOLS_DIR/train.py" "$CONFIG" --launcher pytorch "$@"
