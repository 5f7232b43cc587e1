#!/usr/bin/env bash
# configs/best.ini at NP ranks (default 2) for SEEDS (default "1 2 3"): test
# accuracy of the final and of the best-validation checkpoint per seed, their
# mean and standard deviation, and the training time of each run.
#   SPLIT_DATA=data/mnist-official.h5 bench/best_seeds.sh   (the 60k/10k split)
set -euo pipefail
cd "$(dirname "$0")/.."
np=${NP:-2}; seeds=${SEEDS:-1 2 3}; data=${SPLIT_DATA:-data/mnist.h5}
out=runs/best-seeds-$(basename "$data" .h5)-np$np
bin=${DPMNIST_BIN:-build/bin}
mkdir -p "$out"
echo "| seed | test acc (last) | test acc (best val) | best epoch | train minutes | s/epoch |"
echo "|---|---|---|---|---|---|"
for seed in $seeds; do
  bash launch/train.sh "$np" --config configs/best.ini --data "$data" --train.seed "$seed" \
    --out "$out/seed$seed" > "$out/seed$seed.log" 2>&1 || { tail -20 "$out/seed$seed.log"; exit 1; }
  best=$("$bin/dpmnist-eval" --checkpoint "$out/seed$seed/best.h5" --data "$data" --json)
  best_acc=$(sed -n 's/.*"accuracy": *\([0-9.]*\).*/\1/p' <<< "$best")
  best_epoch=$(sed -n 's/.*"epoch": *\([0-9]*\),.*/\1/p' <<< "$best")
  awk -F, -v seed="$seed" -v best="$best_acc" -v be="$best_epoch" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { t += $col["epoch_seconds"]; n++; acc = $col["test_acc"] }
    END { printf "| %s | %.2f%% | %.2f%% | %s | %.1f | %.2f |\n", seed, 100 * acc, 100 * best, be, t / 60, t / n }' \
    "$out/seed$seed/metrics.csv"
done | tee "$out/table.md"
awk -F'|' '$3 ~ /[0-9]/ { gsub(/[% ]/, "", $3); gsub(/[% ]/, "", $4); n++; a[n] = $3; b[n] = $4 }
  END { for (i = 1; i <= n; i++) { sa += a[i]; sb += b[i] } ma = sa / n; mb = sb / n
        for (i = 1; i <= n; i++) { va += (a[i] - ma) ^ 2; vb += (b[i] - mb) ^ 2 }
        printf "\nmean over %d seeds: last %.2f%% +- %.2f, best-validation %.2f%% +- %.2f (sample std)\n",
               n, ma, (n > 1 ? sqrt(va / (n - 1)) : 0), mb, (n > 1 ? sqrt(vb / (n - 1)) : 0) }' \
  "$out/table.md"
