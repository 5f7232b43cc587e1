#!/usr/bin/env bash
# Which learning-rate rule keeps the seed's accuracy as ranks (and so the
# global batch, 32 per rank) grow? configs/seed.ini at each of NPS ranks
# (default "1 2 4 8 16 32"; oversubscribed where the machine has fewer cores,
# which changes the time, not the arithmetic) under each of RULES, for each of
# SEEDS (train.seed), EPOCHS epochs (default 5).
#   bash bench/batch_rules.sh                      # tune: VALIDATION=5000 held out
#   VALIDATION=0 RULES=sqrt_above bash bench/batch_rules.sh   # report on the test split
# With VALIDATION > 0 (default 5000) that many training digits are held out
# and the rule is chosen on their accuracy; the test split only reports.
# Rules (names, each a set of dpmnist-train options):
#   seed          configs/seed.ini as it is (linear above 64 with a 3-epoch ramp)
#   none          optimizer.learning_rate at every global batch
#   sqrt          learning_rate * sqrt(G / 32) (scales np = 2 as well)
#   sqrt_above    learning_rate * sqrt(G / 64) beyond G = 64, unscaled up to it
#   linear_above  learning_rate * G / 64 beyond G = 64, 1 epoch of warmup
#   hold64        global batch held at 64 (each rank takes its share)
#   linear_ramp   linear above 64, a 1-epoch ramp; linear_ramp_half, _ramp2, _ramp3
#                 (= seed), _ramp4: ramps of 0.5, 2, 3, 4 epochs; sqrt_ramp: sqrt
#                 above 64 with the ramp; sqrt_warmup, sqrt_cosine: sqrt from 32
#                 with a 1-epoch warmup from 0, or a cosine to 0.1; linear_above_cosine:
#                 linear_above with warmup and a cosine for every rank count;
#                 sqrt_cap256: sqrt from 32, the global batch held at 256 beyond 8 ranks
# Files: runs/batch_rules/<date-time>/ (OUT=DIR picks another): a run per
# (rule, ranks, seed), results.csv (every epoch of every run), table.md and
# the plots tools/batch_rules.py draws from them.
set -euo pipefail
cd "$(dirname "$0")/.."
nps=${NPS:-1 2 4 8 16 32}
rules=${RULES:-none sqrt linear_above hold64 linear_ramp linear_ramp2 linear_ramp3 linear_ramp4}
seeds=${SEEDS:-42 43 44}
epochs=${EPOCHS:-5}
validation=${VALIDATION:-5000}
data=${DATA:-data/mnist.h5}
out=${OUT:-runs/batch_rules/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
declare -A flags=(
  [seed]=" "  # no options (a space, so that the name counts as known)
  [none]="--train.lr_scaling=none --train.lr_ramp_epochs=0"
  [sqrt]="--train.lr_scaling=sqrt --train.lr_reference_batch=32 --train.lr_ramp_epochs=0"
  [sqrt_above]="--train.lr_scaling=sqrt_above --train.lr_reference_batch=64 --train.lr_ramp_epochs=0"
  [linear_above]="--train.lr_scaling=linear_above --train.lr_reference_batch=64 --schedule.warmup_epochs=1 --train.lr_ramp_epochs=0"
  [hold64]="--train.lr_scaling=none --train.global_batch_size=64 --train.lr_ramp_epochs=0"
  [sqrt_warmup]="--train.lr_scaling=sqrt --train.lr_reference_batch=32 --schedule.warmup_epochs=1 --train.lr_ramp_epochs=0"
  [sqrt_cosine]="--train.lr_scaling=sqrt --train.lr_reference_batch=32 --schedule.decay=cosine --schedule.min_lr_fraction=0.1 --train.lr_ramp_epochs=0"
  [linear_above_cosine]="--train.lr_scaling=linear_above --train.lr_reference_batch=64 --schedule.warmup_epochs=1 --schedule.decay=cosine --schedule.min_lr_fraction=0.1 --train.lr_ramp_epochs=0"
  [linear_ramp]="--train.lr_scaling=linear_above --train.lr_reference_batch=64 --train.lr_ramp_epochs=1"
  [sqrt_ramp]="--train.lr_scaling=sqrt_above --train.lr_reference_batch=64 --train.lr_ramp_epochs=1"
  [linear_ramp_half]="--train.lr_scaling=linear_above --train.lr_reference_batch=64 --train.lr_ramp_epochs=0.5"
  [linear_ramp2]="--train.lr_scaling=linear_above --train.lr_reference_batch=64 --train.lr_ramp_epochs=2"
  [linear_ramp3]="--train.lr_scaling=linear_above --train.lr_reference_batch=64 --train.lr_ramp_epochs=3"
  [linear_ramp4]="--train.lr_scaling=linear_above --train.lr_reference_batch=64 --train.lr_ramp_epochs=4"
  [linear128_ramp]="--train.lr_scaling=linear_above --train.lr_reference_batch=128 --train.lr_ramp_epochs=1"
  [sqrt_cap256]="--train.lr_scaling=sqrt --train.lr_reference_batch=32 --train.lr_ramp_epochs=0")
for rule in $rules; do
  [ -n "${flags[$rule]:-}" ] || { echo "batch_rules: unknown rule '$rule' (known: ${!flags[*]})" >&2; exit 2; }
done
total=$(( $(wc -w <<< "$rules") * $(wc -w <<< "$nps") * $(wc -w <<< "$seeds") ))
echo "[batch_rules] $total runs of configs/seed.ini, $epochs epochs, validation $validation; into $out" >&2
done_runs=0
for np in $nps; do
  for rule in $rules; do
    for seed in $seeds; do
      name=$rule-np$np-s$seed
      # hold64 with one rank is the seed itself: 32 per step
      extra=${flags[$rule]}
      [ "$rule" = hold64 ] && [ "$np" = 1 ] && extra="--train.global_batch_size=0"
      [ "$rule" = sqrt_cap256 ] && [ "$np" -gt 8 ] && extra="$extra --train.global_batch_size=256"
      # shellcheck disable=SC2086
      bash launch/train.sh "$np" --config configs/seed.ini --data "$data" --out "$out/$name" \
        --train.epochs="$epochs" --train.seed="$seed" --train.validation_size="$validation" \
        --output.progress_seconds=0 $extra > "$out/$name.log" 2>&1 ||
        { tail -20 "$out/$name.log"; exit 1; }
      done_runs=$((done_runs + 1))
      echo "[batch_rules] $done_runs/$total $name: $(grep -o 'test accuracy [0-9.]*' "$out/$name.log" | tail -1)" >&2
    done
  done
done
/usr/bin/python3 tools/batch_rules.py "$out" --train-size $((56000 - validation)) | tee "$out/table.md"
