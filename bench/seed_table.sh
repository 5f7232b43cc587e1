#!/usr/bin/env bash
# The README's results table: the seed config trained at each rank count in
# RANKS (default "1 2 3 4 8"), one after another on this machine; prints a
# Markdown table of final test accuracy and seconds per epoch (mean of the
# training-step time over epochs 2..E, evaluation excluded; max over ranks).
#   bench/seed_table.sh            RANKS="1 2" bench/seed_table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${RANKS:-1 2 3 4 8}
out=runs/seed-table
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
for np in $ranks; do
  bash launch/train.sh "$np" --config configs/seed.ini --data data/mnist.h5 --out "$out/np$np" \
    --output.progress_seconds 0 > "$out-np$np.log" 2>&1 || { cat "$out-np$np.log"; exit 1; }
done
first=${ranks%% *}
echo "machine: $(sed -n 's/^ *runtime: //p' "$out-np$first.log" | head -1); $cores cores, $(date -u +%F)"
echo
echo "| ranks | global batch | test accuracy | s/epoch (train) | comm s/epoch | samples/s | speedup vs 1 rank |"
echo "|---|---|---|---|---|---|---|"
base=""
for np in $ranks; do
  read -r acc sec comm sps < <(awk -F, 'NR > 1 { acc = $5; if (NR > 2) { s += $6; c += $9; p += $11; n++ } }
    END { printf "%.4f %.3f %.3f %.0f\n", acc, s / n, c / n, p / n }' "$out/np$np/metrics.csv")
  [ -z "$base" ] && base=$sec
  note=""; [ "$np" -gt "$cores" ] && note=" (oversubscribed)"
  printf "| %s%s | %d | %.2f%% | %s | %s | %s | %.2fx |\n" "$np" "$note" $((32 * np)) \
    "$(awk "BEGIN { print $acc * 100 }")" "$sec" "$comm" "$sps" "$(awk "BEGIN { print $base / $sec }")"
done
