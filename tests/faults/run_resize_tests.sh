#!/usr/bin/env bash
# Resume on another number of ranks, counted per digit: a run stopped in the
# middle of epoch 2 (DPMNIST_FAULT_STOP_AT_STEP, as a preemption signal would)
# is resumed on N' ranks; every rank records the rows it trains
# (DPMNIST_TRACE_ROWS), and each epoch must train each of the 2003 digits
# exactly once across the stop. Also: the resumed run starts at the
# checkpoint's global step, and on unchanged ranks ends bitwise on the
# uninterrupted weights. Prints one row per case.
#   tests/faults/run_resize_tests.sh BUILD_BIN SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
# shellcheck source=fault_lib.sh
source "$(dirname "$0")/fault_lib.sh"
digits=2003
train=("$bin/dpmnist-train" --config "$src/configs/seed.ini" --data "$work/data.h5"
       --model.hidden=32 --train.batch_size=8 --train.epochs=3 --output.progress_seconds=0)
rows=()

"$bin/make_synthetic_data" "$work/data.h5" $digits 57 || exit 1
timeout 120 "${mpi[@]}" -np 2 "${train[@]}" --out "$work/reference" > "$work/reference.log" 2>&1 ||
  { cat "$work/reference.log"; exit 1; }
reference=$(weights "$work/reference")

# name, ranks before, ranks after, global step to stop at, extra options
cases=(
  "2->1 per-rank batch|2|1|170|"
  "2->3 per-rank batch|2|3|170|"
  "3->2 per-rank batch|3|2|100|"
  "2->3 global batch 24|2|3|110|--train.global_batch_size=24"
  "3->2 global batch 24|3|2|110|--train.global_batch_size=24"
  "2->3 ZeRO-1 (sharded)|2|3|170|--train.gradient_sync=sharded"
  "2->2 (unchanged)|2|2|170|"
)
for entry in "${cases[@]}"; do
  IFS='|' read -r name before after stop extra <<< "$entry"
  dir=$work/case$before$after${extra//[^a-z0-9]/}
  # shellcheck disable=SC2086
  DPMNIST_FAULT_STOP_AT_STEP=$stop DPMNIST_TRACE_ROWS=$dir.trace timeout 120 "${mpi[@]}" -np "$before" \
    "${train[@]}" $extra --out "$dir" > "$dir.log" 2>&1; code=$?
  [ "$code" = 75 ] || { fail "$name: the stopped run exited $code, expected 75"; cat "$dir.log" >&2; continue; }
  # shellcheck disable=SC2086
  DPMNIST_TRACE_ROWS=$dir.trace timeout 120 "${mpi[@]}" -np "$after" "${train[@]}" $extra --out "$dir" \
    --resume auto > "$dir.resume.log" 2>&1 ||
    { fail "$name: the resume failed"; cat "$dir.resume.log" >&2; continue; }
  global=$(grep -o -m1 'resumed from [^ ]* (epoch 1, step [0-9]* of the next, global step [0-9]*' "$dir.resume.log" |
    sed 's/.*global step //')
  [ "$global" = $((stop + 1)) ] || fail "$name: resumed at global step '$global', expected $((stop + 1)) (mid-epoch 2)"
  # The resumed ranks' first step is the checkpoint's global step (they record "epoch step rows").
  first=$(cat "$dir.trace".* | awk -v g="$global" '$2 >= g' | sort -k2n | head -1 | cut -d' ' -f1,2)
  [ "$first" = "2 $global" ] || fail "$name: the resumed run began with '$first', expected epoch 2 step $global"
  counts=""
  for epoch in 1 2 3; do
    read -r once never twice < <(visit_counts "$dir.trace" $epoch $digits)
    [ "$once" = $digits ] && [ "$never" = 0 ] && [ "$twice" = 0 ] ||
      fail "$name: epoch $epoch: $once digits once, $never never, $twice twice or more"
    counts+="epoch $epoch: $once once, $never never, $twice twice; "
  done
  if [ "$before" = "$after" ]; then
    [ "$(weights "$dir")" = "$reference" ] || fail "$name: weights differ from the uninterrupted run"
    note="weights = uninterrupted ($reference)"
  else
    grep -q "written by $before ranks and resumes on $after: the rest of epoch 2 trains the" "$dir.resume.log" ||
      fail "$name: no note on the change of ranks"
    note=$(grep -o -m1 'trains the [0-9]* digits not yet seen' "$dir.resume.log")
  fi
  rows+=("| $name | stop at global step $stop, resumed at $global | ${counts%; } | $note |")
done

echo
echo "| resume | where | visits per digit ($digits digits, both runs' ranks together) | |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
if [ "$failures" = 0 ]; then echo "resize tests: all passed"; else echo "resize tests: $failures failed"; exit 1; fi
