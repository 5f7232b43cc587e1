#!/usr/bin/env bash
# The issue-7 ablation: what each ingredient of configs/best.ini adds, one
# step at a time, at NP ranks (default 2), EPOCHS epochs each (default: best.ini's):
#   seed            configs/seed.ini (784-128-10, batch 32/rank, 5 epochs)
#   + width         best.ini's widths and batch, no dropout, constant rate, no augmentation
#   + dropout       + dropout and label smoothing
#   + schedule      + warmup and cosine decay, weight decay
#   + augmentation  = configs/best.ini
# Prints a Markdown table: test accuracy, validation accuracy, s/epoch, epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
np=${NP:-2}
out=runs/ablation
mkdir -p "$out"
epochs=()
[ -n "${EPOCHS:-}" ] && epochs=(--train.epochs "$EPOCHS")
best=(--config configs/best.ini --output.progress_seconds 0 "${epochs[@]}")
no_aug=(--augment.rotate_degrees 0 --augment.scale 0 --augment.shear_degrees 0 --augment.translate 0
        --augment.elastic_alpha 0)
no_sched=(--schedule.warmup_epochs 0 --schedule.decay none --optimizer.weight_decay 0)
no_drop=(--model.dropout 0 --model.input_dropout 0 --train.label_smoothing 0)
declare -A runs=(
  [1-seed]="--config configs/seed.ini --output.progress_seconds 0"
  [2-width]="${best[*]} ${no_aug[*]} ${no_sched[*]} ${no_drop[*]}"
  [3-dropout]="${best[*]} ${no_aug[*]} ${no_sched[*]}"
  [4-schedule]="${best[*]} ${no_aug[*]}"
  [5-augmentation]="${best[*]}")
echo "| step | test accuracy | validation accuracy | s/epoch | epochs |"
echo "|---|---|---|---|---|"
for name in $(printf '%s\n' "${!runs[@]}" | sort); do
  # shellcheck disable=SC2086
  bash launch/train.sh "$np" ${runs[$name]} --data data/mnist.h5 --out "$out/$name" > "$out/$name.log" 2>&1 ||
    { tail -20 "$out/$name.log"; exit 1; }
  awk -F, -v name="${name#*-}" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { n++; if (n > 1) { s += $col["epoch_seconds"]; k++ } acc = $col["test_acc"]; val = $col["val_acc"] }
    END { printf "| %s | %.2f%% | %s | %.2f | %d |\n", name, 100 * acc,
          (val == "nan" || val == "") ? "-" : sprintf("%.2f%%", 100 * val), k ? s / k : 0, n }' \
    "$out/$name/metrics.csv"
done
