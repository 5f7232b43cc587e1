#!/usr/bin/env bash
# The scaling study against a single-rank run: dpmnist-train at np = 1, 2, 4, ...
# up to MAX_NP (and MAX_NP itself), one run after another, in two modes:
#   strong  the global batch held at STRONG_BATCH (default 64) over all ranks
#   weak    WEAK_BATCH (default 32) samples per rank, global batch WEAK_BATCH * np
# Runs with more ranks than cores (nproc) are oversubscribed, and flagged so.
# Timing means skip epoch 1 (warm-up) when EPOCHS (default 3) > 1. REPEATS=R
# (default 1) runs the whole set R times, interleaved, and reports the run
# with the median s/epoch per (mode, np) (PICK=min: the fastest run): on a
# shared machine, noise then hits every configuration alike.
#   launch/scaling.sh MAX_NP [extra dpmnist-train options]
#   EPOCHS=5 MODES=weak launch/scaling.sh 16 --model.hidden=1024,1024
# Writes runs/scaling/<date-time>/ (OUT=DIR for another): <mode>-np<N>/ with each
# run's metrics.csv and train.log, runs.csv, results.csv, summary.md and the
# PNG plots of tools/plot_scaling.py (needs python3-matplotlib: install_deps.sh --analysis).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then sed -n '2,15p' "$0"; exit 2; fi
max_np=$1; shift
for arg in "$@"; do
  case $arg in
    --train.epochs* | --train.batch_size* | --train.global_batch_size* | --out* | --data* | --config*)
      echo "[scaling] '$arg': set this through EPOCHS, WEAK_BATCH, STRONG_BATCH, OUT, DATA or CONFIG" >&2
      exit 2 ;;
  esac
done
epochs=${EPOCHS:-3}
repeats=${REPEATS:-1}
strong_batch=${STRONG_BATCH:-64}
weak_batch=${WEAK_BATCH:-32}
modes=${MODES:-strong weak}
data=${DATA:-data/mnist.h5}
config=${CONFIG:-configs/seed.ini}
out=${OUT:-runs/scaling/$(date +%Y%m%d-%H%M%S)}
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
[ -x build/bin/dpmnist-train ] || { echo "[scaling] build/bin/dpmnist-train missing: run  bash tools/build.sh" >&2; exit 1; }
[ -f "$data" ] || { echo "[scaling] $data missing: run  bash launch/seed.sh" >&2; exit 1; }

ranks=()
for ((np = 1; np <= max_np; np *= 2)); do ranks+=("$np"); done
[ "${ranks[-1]}" = "$max_np" ] || ranks+=("$max_np")

mkdir -p "$out"
{
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores ($(hostname))"
  echo "mpi: $(mpirun --version 2> /dev/null | head -1)"
  echo "date: $(date -u '+%F %T') UTC"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: EPOCHS=$epochs REPEATS=$repeats STRONG_BATCH=$strong_batch WEAK_BATCH=$weak_batch MODES='$modes' launch/scaling.sh $max_np $*"
} > "$out/machine.txt"
echo "mode,np,oversubscribed,cores,global_batch,per_rank_batch,epochs,run_dir" > "$out/runs.csv"

for round in $(seq "$repeats"); do
for mode in $modes; do
  for np in "${ranks[@]}"; do
    over=0; [ "$np" -gt "$cores" ] && over=1
    if [ "$mode" = strong ]; then
      batch_args=(--train.global_batch_size="$strong_batch"); global=$strong_batch
      per_rank=$(awk "BEGIN { printf \"%.4g\", $strong_batch / $np }")
    elif [ "$mode" = weak ]; then
      batch_args=(--train.batch_size="$weak_batch"); global=$((weak_batch * np)); per_rank=$weak_batch
    else
      echo "[scaling] unknown mode '$mode' in MODES: expected strong and/or weak" >&2; exit 2
    fi
    name=$mode-np$np; [ "$repeats" -gt 1 ] && name=$name-r$round
    dir=$out/$name
    note=""; [ $over = 1 ] && note=" (oversubscribed: $np ranks on $cores cores)"
    round_note=""; [ "$repeats" -gt 1 ] && round_note=", round $round of $repeats"
    echo "[scaling] $mode np=$np global batch $global$note$round_note"
    mkdir -p "$dir"
    bash launch/train.sh "$np" --config "$config" --data "$data" --out "$dir" \
      --train.epochs="$epochs" --output.progress_seconds=0 "${batch_args[@]}" "$@" \
      > "$dir/train.log" 2>&1 || { cat "$dir/train.log" >&2; echo "[scaling] $mode np=$np failed" >&2; exit 1; }
    echo "$mode,$np,$over,$cores,$global,$per_rank,$epochs,$name" >> "$out/runs.csv"
  done
done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

/usr/bin/python3 tools/plot_scaling.py "$out"
echo "[scaling] wrote $out/results.csv, $out/summary.md and plots"
cat "$out/summary.md"
