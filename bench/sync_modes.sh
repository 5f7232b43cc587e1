#!/usr/bin/env bash
# Gradient synchronisation variants at NP ranks (default 2), seed config,
# interleaved over ROUNDS rounds (default 3) so machine noise hits all alike:
#   allreduce            one MPI_Allreduce after backward, Adam on every rank
#   sharded              ZeRO-1: reduce-scatter, Adam on a slice, allgather
#   shm                  ZeRO-1 through node shared memory (the seed default),
#                        the first kernel's gradient sent as its factors
#   shm-whole            the same summing whole gradient buffers
#                        (train.gradient_factors = false)
#   shm, dense layer 1   the same with the first layer's dense sgemm
#                        (model.sparse_input_max_density = 0)
# Prints, per mode, the round with the median s/epoch (PICK=min: the fastest)
# over epochs 2..E, with each phase's median-over-ranks seconds per epoch and
# the final test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
np=${NP:-2}; rounds=${ROUNDS:-3}; epochs=${EPOCHS:-5}; pick=${PICK:-median}
out=runs/sync-modes
rm -rf "$out"; mkdir -p "$out"
declare -A flags=(
  [allreduce]="--train.gradient_sync=allreduce"
  [sharded]="--train.gradient_sync=sharded"
  [shm]="--train.gradient_sync=shm"
  [shm-whole]="--train.gradient_sync=shm --train.gradient_factors=false"
  [shm-dense]="--train.gradient_sync=shm --model.sparse_input_max_density=0")
modes=(allreduce sharded shm shm-whole shm-dense)
for round in $(seq "$rounds"); do
  for mode in "${modes[@]}"; do
    # shellcheck disable=SC2086
    bash launch/train.sh "$np" --config configs/seed.ini --data data/mnist.h5 --train.epochs "$epochs" \
      --output.progress_seconds 0 ${flags[$mode]} --out "$out/$mode-$round" > "$out/$mode-$round.log" 2>&1 ||
      { cat "$out/$mode-$round.log"; exit 1; }
  done
done
echo "np=$np, seed config, the $pick of $rounds interleaved rounds; seconds per epoch (epochs 2..$epochs)"
echo
echo "| mode | s/epoch | data | forward | backward | comm wait | optimizer | test acc |"
echo "|---|---|---|---|---|---|---|---|"
for mode in "${modes[@]}"; do
  for round in $(seq "$rounds"); do
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { sub(/^allreduce_/, "comm_", $i); col[$i] = i }; next }
      NR > 2 { n++; s += $col["epoch_seconds"]; d += $col["data_median"]; f += $col["forward_median"];
               b += $col["backward_median"]; a += $col["comm_median"]; o += $col["optimizer_median"] }
      { acc = $col["test_acc"] }
      END { printf "%.4f %.4f %.4f %.4f %.4f %.4f %.4f\n", s/n, d/n, f/n, b/n, a/n, o/n, acc }' \
      "$out/$mode-$round/metrics.csv"
  done | sort -n | awk -v mode="$mode" -v r="$rounds" -v pick="$pick" 'NR == (pick == "min" ? 1 : int((r + 1) / 2)) {
      printf "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f%% |\n", mode, $1, $2, $3, $4, $5, $6, 100 * $7 }'
done
