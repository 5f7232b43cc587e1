#!/usr/bin/env bash
# Workstation launcher: mpirun -np NP dpmnist-train with one OpenBLAS thread
# per rank, each rank bound to a core; --oversubscribe (and no binding) when
# there are more ranks than cores; the root flags only when running as root.
#   launch/train.sh NP [dpmnist-train options...]
#   launch/train.sh 8 --config configs/seed.ini --data data/mnist.h5 --out runs/np8
# DPMNIST_BIN=other/bin picks another build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,7p' "$0"; exit 2; }
np=$1; shift
# nproc obeys OMP_NUM_THREADS, which HPC shells often export as 1: count the cores.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
args=(-np "$np")
if [ "$np" -gt "$cores" ]; then
  echo "[launch] $np ranks on $cores cores: oversubscribed (timings will not scale)" >&2
  args+=(--oversubscribe --bind-to none)
else
  args+=(--bind-to core --map-by core)
fi
[ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
exec mpirun "${args[@]}" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS "${DPMNIST_BIN:-build/bin}/dpmnist-train" "$@"
