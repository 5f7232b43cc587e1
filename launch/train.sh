#!/usr/bin/env bash
# Workstation launcher: mpirun -np NP dpmnist-train with one OpenBLAS thread
# per rank, each rank bound to a core; --oversubscribe (and no binding) when
# there are more ranks than cores; the root flags only when running as root.
# The flags are the launcher's own: Open MPI's mpirun as above, MPICH's Hydra
# mpiexec (which binds nothing by default and needs no oversubscribe or root
# flags) with -n and -genv; told apart by `--version`.
#   launch/train.sh NP [dpmnist-train options...]
#   launch/train.sh 8 --config configs/seed.ini --data data/mnist.h5 --out runs/np8
#   MPIRUN=mpiexec.mpich DPMNIST_BIN=build-mpich/bin launch/train.sh 2 ...   (MPICH build)
# DPMNIST_BIN=other/bin picks another build; MPIRUN another launcher.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 2; }
np=$1; shift
# nproc obeys OMP_NUM_THREADS, which HPC shells often export as 1: count the cores.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
mpirun=${MPIRUN:-mpirun}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
if "$mpirun" --version 2>&1 | grep -q "HYDRA"; then
  [ "$np" -gt "$cores" ] && echo "[launch] $np ranks on $cores cores: oversubscribed (timings will not scale)" >&2
  exec "$mpirun" -n "$np" -genv OPENBLAS_NUM_THREADS 1 -genv OMP_NUM_THREADS 1 \
    "${DPMNIST_BIN:-build/bin}/dpmnist-train" "$@"
fi
args=(-np "$np")
if [ "$np" -gt "$cores" ]; then
  echo "[launch] $np ranks on $cores cores: oversubscribed (timings will not scale)" >&2
  args+=(--oversubscribe --bind-to none)
else
  args+=(--bind-to core --map-by core)
fi
[ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)
exec "$mpirun" "${args[@]}" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS "${DPMNIST_BIN:-build/bin}/dpmnist-train" "$@"
