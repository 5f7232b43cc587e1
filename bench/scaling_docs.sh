#!/usr/bin/env bash
# Every figure of docs/scaling.md, measured again on this machine and written
# to docs/scaling/ (OUT=DIR for another place), one step after another:
#   sgemm.{txt,csv}           dpmnist-bench-sgemm on both models' shapes
#   allreduce_np2.{txt,csv}   dpmnist-bench-allreduce, MPI_Allreduce, 2 ranks
#   shm_sum_np2.{txt,csv}     the same sum through node shared memory (--shm)
#   first_layer.{txt,csv}     dpmnist-bench-first-layer, hidden 128 and 1024
#   scaling_*                 launch/scaling.sh 4 (REPEATS=5)
#   sync_modes.md             bench/sync_modes.sh (ROUNDS=5)
#   compare_pytorch.md        launch/compare_pytorch.sh (REPEATS=3)
# This VM alternates, for minutes at a time, between two speeds for work that
# moves data between its cores (docs/scaling.md): every measurement runs
# several times interleaved with what it is compared against, and the
# fastest run is kept (PICK=min; each table shows the range over all runs).
#   cost_model.{md,png}       tools/cost_model.py over all of the above
#   machine.txt               CPU, OpenBLAS core, denormal flush, MPI, date, load average
# Needs the build, data/mnist.h5 (bash launch/seed.sh) and the analysis and
# PyTorch packages (bash tools/install_deps.sh --analysis --torch). About 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-docs/scaling}
py=/usr/bin/python3
mkdir -p "$out"
root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 PICK=min
step() { echo "[scaling_docs] $*"; }

{
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) cores ($(hostname))"
  echo "mpi: $(mpirun --version 2> /dev/null | head -1)"
  echo "date: $(date -u '+%F %T') UTC"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

step "sgemm on the model shapes"
build/bin/dpmnist-bench-sgemm --hidden 128 --hidden 1024,1024 --csv "$out/sgemm.csv" > "$out/sgemm.txt"
sed -n 's/^# machine: /runtime: /p' "$out/sgemm.txt" >> "$out/machine.txt"
step "MPI_Allreduce and the node shared-memory sum at 2 ranks (3 interleaved runs each)"
# Each bench runs 3 times, alternating; the run with the lowest seed-gradient
# latency is kept.
tmp=$(mktemp -d)
for round in 1 2 3; do
  for kind in allreduce shm; do
    flag=(); [ $kind = shm ] && flag=(--shm)
    mpirun "${root[@]}" -np 2 --bind-to core --map-by core build/bin/dpmnist-bench-allreduce \
      "${flag[@]}" --csv "$tmp/$kind-$round.csv" > "$tmp/$kind-$round.txt"
  done
done
for kind in allreduce shm; do
  kept=$(for round in 1 2 3; do
             echo "$(awk '/seed 784-128-10/ { print $5 }' "$tmp/$kind-$round.txt") $round"
           done | sort -n | sed -n 1p | cut -d' ' -f2)
  name=allreduce_np2; [ $kind = shm ] && name=shm_sum_np2
  cp "$tmp/$kind-$kept.csv" "$out/$name.csv"
  cp "$tmp/$kind-$kept.txt" "$out/$name.txt"
  echo "# seed-gradient median us over the 3 runs: $(awk '/seed 784-128-10/ { printf "%s ", $5 }' "$tmp/$kind-"?.txt)(kept run $kept, the fastest)" >> "$out/$name.txt"
done
rm -rf "$tmp"
step "first layer: dense sgemm against the sparse-input kernels"
rm -f "$out/first_layer.csv"
{
  build/bin/dpmnist-bench-first-layer --hidden 128 --csv "$out/first_layer.csv"
  build/bin/dpmnist-bench-first-layer --hidden 1024 --steps 400 --csv "$out/first_layer.csv"
} > "$out/first_layer.txt"
step "scaling study (5 interleaved repeats, fastest kept)"
study=runs/scaling/docs-$(date +%Y%m%d-%H%M%S)
REPEATS=5 OUT=$study bash launch/scaling.sh 4 > /dev/null
cp "$study/results.csv" "$out/scaling_results.csv"
cp "$study/summary.md" "$out/scaling_summary.md"
cp "$study/scaling.png" "$out/scaling.png"
cp "$study/breakdown.png" "$out/breakdown.png"
step "gradient paths at 2 ranks"
ROUNDS=5 bash bench/sync_modes.sh > "$out/sync_modes.md"
step "PyTorch comparison"
REPEATS=3 OUT=runs/compare/docs-$(date +%Y%m%d-%H%M%S) bash launch/compare_pytorch.sh | sed -n '/^machine:/,$p' \
  | grep -v '^\[compare\]' > "$out/compare_pytorch.md"
step "cost model"
$py tools/cost_model.py --allreduce "$out/allreduce_np2.csv" --shm-allreduce "$out/shm_sum_np2.csv" \
  --sgemm "$out/sgemm.csv" --first-layer "$out/first_layer.csv" --scaling "$out/scaling_results.csv" \
  --md "$out/cost_model.md" --png "$out/cost_model.png" > /dev/null
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
step "wrote $out: $(cd "$out" && ls | tr '\n' ' ')"
[ "$out" = docs/scaling ] && $py tools/fill_scaling_doc.py
