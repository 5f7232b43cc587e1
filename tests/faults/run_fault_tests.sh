#!/usr/bin/env bash
# Fault tests of dpmnist-train under mpirun, on synthetic data. Each fault must
# end the job (never hang: every launch runs under `timeout`), leave a valid
# checkpoint, and --resume auto must then reach the final weights of an
# uninterrupted run bitwise. Prints a table: fault, outcome, seconds, weights.
#   tests/faults/run_fault_tests.sh BUILD_BIN SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
# shellcheck source=fault_lib.sh
source "$(dirname "$0")/fault_lib.sh"
epochs=6
base=("$bin/dpmnist-train" --config "$src/configs/seed.ini" --model.hidden=32
      --train.batch_size=8 --train.epochs=$epochs --output.progress_seconds=0)
train=("${base[@]}" --data "$work/data.h5")
rows=()

record() {  # fault, outcome, seconds, weights
  rows+=("| $1 | $2 | $3 | $4 |")
}
epoch_of() {
  "$bin/dpmnist-eval" --checkpoint "$1" --data "$work/data.h5" --json 2>/dev/null |
    sed -n 's/.*"epoch": *\([0-9]*\),.*/\1/p'
}
now() { date +%s.%N; }
since() { awk "BEGIN { printf \"%.1f\", $(now) - $1 }"; }
# PIDs of processes whose command name is $1 and whose command line has $2.
pids_of() {
  pgrep -f -- "$2" | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = "$1" ] && echo "$p"; done
}
# Waits (at most 60 s) until file $1 exists.
wait_for() {
  for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done
  return 1
}
resume_matches() {  # run dir: resume to the end. It must continue from a checkpoint (a fresh
  # start reaches the same weights, so the hash alone cannot tell) and reach the reference.
  local log=$1.resume.log line epoch step global first
  timeout 120 "${mpi[@]}" -np 2 "${train[@]}" --out "$1" --resume auto > "$log" 2>&1 ||
    { fail "resume in $1 failed"; cat "$log" >&2; echo "resume failed"; return; }
  line=$(grep -m1 -o 'resumed from [^ ]* (epoch [0-9]*, step [0-9]* of the next, global step [0-9]*' "$log")
  [ -n "$line" ] || { fail "$1: the resume did not continue from a checkpoint"; echo "NO (started over)"; return; }
  read -r epoch step global < <(echo "$line" | sed 's/.*(epoch \([0-9]*\), step \([0-9]*\) .*global step \([0-9]*\)/\1 \2 \3/')
  first=$(grep -m1 -o '^epoch [0-9]*/' "$log" | tr -dc 0-9)
  # It trains only what was left: its first epoch line is the checkpoint's next epoch.
  [ "$first" = $((epoch + 1)) ] || fail "$1: resumed at epoch $epoch but trained from epoch $first"
  if [ "$(weights "$1")" = "$reference" ]; then
    echo "yes (continued from epoch $epoch, step $step, global step $global)"
  else
    fail "$1: weights differ"; echo "NO"
  fi
}

"$bin/make_synthetic_data" "$work/data.h5" 20000 500 || exit 1
"$bin/make_synthetic_data" "$work/odd.h5" 2003 57 || exit 1

# The uninterrupted reference at 2 ranks.
timeout 120 "${mpi[@]}" -np 2 "${train[@]}" --out "$work/reference" > "$work/reference.log" 2>&1 ||
  { cat "$work/reference.log"; exit 1; }
reference=$(weights "$work/reference")
echo "reference: $epochs epochs at 2 ranks, weights fnv1a $reference"

# 1. SIGKILL one rank mid-run.
t0=$(now)
timeout 120 "${mpi[@]}" -np 2 "${train[@]}" --out "$work/kill" > "$work/kill.log" 2>&1 &
launcher=$!
wait_for "$work/kill/checkpoint.h5" || fail "no checkpoint before the kill"
victim=$(pids_of dpmnist-train "--out $work/kill" | tail -1)
t0=$(now)
kill -9 "$victim"
wait "$launcher"; code=$?
took=$(since "$t0")
[ "$code" != 0 ] && [ "$code" != 124 ] || fail "killed rank: exit $code (124 = hung until timeout)"
grep -q "signal 9\|Killed\|exited on signal" "$work/kill.log" || fail "killed rank: no message"
record "SIGKILL of one rank mid-epoch" "job ended, exit $code, mpirun reported the dead rank" "$took" \
  "$(resume_matches "$work/kill")"

# 2. Crash (SIGKILL of rank 0) between writing the epoch-3 checkpoint and its rename.
t0=$(now)
DPMNIST_FAULT_CRASH_IN_CHECKPOINT=3 timeout 120 "${mpi[@]}" -x DPMNIST_FAULT_CRASH_IN_CHECKPOINT \
  -np 2 "${train[@]}" --out "$work/crash" > "$work/crash.log" 2>&1; code=$?
took=$(since "$t0")
[ "$code" != 0 ] && [ "$code" != 124 ] || fail "crash in checkpoint: exit $code"
ls "$work/crash"/*.tmp > /dev/null 2>&1 || fail "crash in checkpoint: no half-written .tmp left"
[ "$(epoch_of "$work/crash/checkpoint.h5")" = 2 ] || fail "crash in checkpoint: checkpoint.h5 is not epoch 2"
record "crash between checkpoint write and rename" \
  "exit $code; .tmp left, checkpoint.h5 still the valid epoch 2" "$took (whole run)" "$(resume_matches "$work/crash")"

# 3. Corrupted newest checkpoint: --resume auto reports it and falls back.
cp -r "$work/reference" "$work/corrupt"
newest=$(ls "$work/corrupt"/checkpoint-*.h5 | sort | tail -1)
truncate -s 5000 "$newest"
rm -f "$work/corrupt/checkpoint.h5"
t0=$(now)
result=$(resume_matches "$work/corrupt")
grep -q "skipping unusable checkpoint: .*$(basename "$newest")" "$work/corrupt.resume.log" ||
  fail "corrupted checkpoint: not reported"
record "newest checkpoint truncated" "reported, resumed from the one before" "$(since "$t0")" "$result"

# 3b. A run directory holding only checkpoint.h5 (the README's "newest"): it is
# a candidate like the numbered files. A fresh start would reach the same
# weights, so the resumed run's own record is checked too.
mkdir -p "$work/only"
second=$(ls "$work/reference"/checkpoint-*.h5 | sort | tail -2 | head -1)
cp "$second" "$work/only/checkpoint.h5"
t0=$(now)
result=$(resume_matches "$work/only")
from=$(epoch_of "$second")
grep -q "resumed from $work/only/checkpoint.h5 (epoch $from," "$work/only.resume.log" ||
  fail "only checkpoint.h5: not resumed from it (log: $(grep -m1 'resumed\|fresh' "$work/only.resume.log"))"
[ "$(sed -n '2p' "$work/only/metrics.csv" | cut -d, -f1)" = 1 ] &&
  [ "$(($(wc -l < "$work/only/metrics.csv") - 1))" = $epochs ] ||
  fail "only checkpoint.h5: metrics.csv does not carry the earlier epochs"
record "run directory holding only checkpoint.h5 (epoch $from)" \
  "$(grep -o -m1 'resumed from [^ ]* (epoch [0-9]*, step [0-9]*\|starting fresh' "$work/only.resume.log" |
     sed -e "s|$work/||" -e 's/step [0-9]*$/&)/')" \
  "$(since "$t0")" "$result"

# 3c. No checkpoint that loads: --resume auto stops with an error on every
# rank and keeps the files (it used to delete them and start fresh, exit 0).
mkdir -p "$work/unusable"
cp "$second" "$work/unusable/checkpoint-0000000001.h5"
truncate -s 5000 "$work/unusable/checkpoint-0000000001.h5"
cp "$second" "$work/unusable/checkpoint.h5"
echo "not a checkpoint" > "$work/unusable/checkpoint.h5"
sums=$(cd "$work/unusable" && sha256sum checkpoint*.h5)
t0=$(now)
timeout 60 "${mpi[@]}" -np 2 "${train[@]}" --out "$work/unusable" --resume auto > "$work/unusable.log" 2>&1; code=$?
took=$(since "$t0")
[ "$code" = 1 ] || fail "no usable checkpoint: exit $code, expected 1"
grep -q "none of the 2 checkpoint file(s) in $work/unusable can be used" "$work/unusable.log" ||
  fail "no usable checkpoint: no error naming the directory and the count"
[ "$(cd "$work/unusable" && sha256sum checkpoint*.h5)" = "$sums" ] || fail "no usable checkpoint: files changed or removed"
[ ! -e "$work/unusable/metrics.csv" ] || fail "no usable checkpoint: it trained"
kept=$(ls "$work/unusable"/checkpoint*.h5 2> /dev/null | wc -l)
record "no checkpoint loads (one truncated, checkpoint.h5 not HDF5)" \
  "exit $code; $kept of 2 files left; $([ -e "$work/unusable/metrics.csv" ] && echo trained || echo nothing trained)" \
  "$took" "n/a"

# 4. One rank given a missing data path.
t0=$(now)
timeout 60 "${mpi[@]}" -np 1 "${train[@]}" --out "$work/path" : \
  -np 1 "${base[@]}" --out "$work/path" --data "$work/absent.h5" > "$work/path.log" 2>&1; code=$?
took=$(since "$t0")
[ "$code" != 0 ] && [ "$code" != 124 ] || fail "missing path on one rank: exit $code"
grep -q "\[rank 1 on .*absent.h5" "$work/path.log" || fail "missing path: message lacks rank, host or file"
record "rank 1 given a missing data file" "exit $code: $(grep -o '\[rank 1 on [^]]*\] error: [^;]*' "$work/path.log" | head -1)" "$took" "n/a"

# 5. Configuration mismatch between ranks.
t0=$(now)
timeout 60 "${mpi[@]}" -np 1 "${train[@]}" --out "$work/config" : \
  -np 1 "${train[@]}" --out "$work/config" --optimizer.learning_rate=0.002 > "$work/config.log" 2>&1; code=$?
took=$(since "$t0")
[ "$code" != 0 ] && [ "$code" != 124 ] || fail "config mismatch: exit $code"
grep -q "different configurations" "$work/config.log" || fail "config mismatch: not reported"
record "ranks with different configurations" "exit $code: the ranks parsed different configurations" "$took" "n/a"

# 6. NaN injected into rank 0's batch in epoch 3 (global step 2600 of 1250 per epoch).
t0=$(now)
DPMNIST_FAULT_NAN_AT_STEP=2600 timeout 120 "${mpi[@]}" -x DPMNIST_FAULT_NAN_AT_STEP -np 2 "${train[@]}" \
  --out "$work/nan" > "$work/nan.log" 2>&1; code=$?
took=$(since "$t0")
[ "$code" != 0 ] && [ "$code" != 124 ] || fail "NaN: exit $code"
grep -q "not finite" "$work/nan.log" || fail "NaN: no message"
[ "$(epoch_of "$work/nan/checkpoint.h5")" = 2 ] || fail "NaN: the epoch-2 checkpoint was overwritten"
record "NaN in the loss (epoch 3)" "exit $code: loss is not finite; checkpoint.h5 still epoch 2" "$took (whole run)" \
  "$(resume_matches "$work/nan")"

# 7. A stop signal (SIGUSR1 to mpirun, forwarded to every rank).
t0=$(now)
timeout 120 "${mpi[@]}" -np 2 "${train[@]}" --out "$work/usr1" > "$work/usr1.log" 2>&1 &
launcher=$!
wait_for "$work/usr1/checkpoint.h5"
mpirun_pid=$(pids_of mpirun "--out $work/usr1" | head -1)
t0=$(now)
kill -USR1 "$mpirun_pid"
wait "$launcher"; code=$?
took=$(since "$t0")
[ "$code" = 75 ] || fail "SIGUSR1: exit $code, expected 75"
grep -q "stopped by a signal" "$work/usr1.log" || fail "SIGUSR1: no stop message"
record "SIGUSR1 (preemption warning)" "exit $code after $(grep -o 'stopped by a signal at epoch [0-9]* step [0-9/]*' "$work/usr1.log")" \
  "$took" "$(resume_matches "$work/usr1")"

# 7b. OpenBLAS fell back to an older core (Debian's 0.3.21 on an Emerald
# Rapids Xeon picks Prescott): every rank re-executes itself once with a better
# OPENBLAS_CORETYPE, keeps its process name, and still stops cleanly on USR1.
# (A CPU without AVX has no better core to ask for: nothing to test there.)
if grep -qw avx /proc/cpuinfo; then
  t0=$(now)
  env -u OPENBLAS_CORETYPE DPMNIST_FAULT_OPENBLAS_PICKED=Prescott timeout 120 "${mpi[@]}" -np 2 \
    "${train[@]}" --out "$work/reexec" > "$work/reexec.log" 2>&1 &
  launcher=$!
  wait_for "$work/reexec/checkpoint.h5" || fail "re-exec: no checkpoint"
  named=$(pids_of dpmnist-train "--out $work/reexec" | wc -l)
  mpirun_pid=$(pids_of mpirun "--out $work/reexec" | head -1)
  kill -USR1 "$mpirun_pid"
  wait "$launcher"; code=$?
  [ "$named" = 2 ] || fail "re-exec: $named processes named dpmnist-train, expected 2"
  [ "$code" = 75 ] || fail "re-exec: exit $code after USR1, expected 75"
  grep -q "runtime: .* core [A-Za-z]* (set by dpmnist; the library picked Prescott)" "$work/reexec.log" ||
    fail "re-exec: the banner does not show the core dpmnist set"
  record "OpenBLAS picked an older core (Prescott)" \
    "$(grep -o -m1 'core [A-Za-z]* (set by dpmnist[^)]*)' "$work/reexec.log"); $named ranks named dpmnist-train; USR1 -> exit $code" \
    "$(since "$t0") (whole run)" "n/a"
fi

# 7c. A full disk while writing the first checkpoint (a 200 KB tmpfs in a
# private mount namespace; needs root): the error carries the system's reason
# and no partial file is left. Skipped where tmpfs cannot be mounted.
if [ "$(id -u)" = 0 ] && unshare -m true 2> /dev/null; then
  t0=$(now)
  mkdir -p "$work/full"
  unshare -m bash -c "mount -t tmpfs -o size=200k tmpfs '$work/full' &&
    timeout 120 ${mpi[*]} -np 2 ${train[*]} --out '$work/full/run' > '$work/full.log' 2>&1;
    echo \$? > '$work/full.code'; ls -A '$work/full/run' > '$work/full.files'"
  code=$(cat "$work/full.code")
  [ "$code" != 0 ] || fail "disk full: exit 0"
  grep -q "No space left on device" "$work/full.log" || { fail "disk full: no system reason"; cat "$work/full.log" >&2; }
  ! grep -q '\.tmp' "$work/full.files" || fail "disk full: a partial file was left: $(cat "$work/full.files")"
  record "disk full while writing a checkpoint" \
    "exit $code: $(grep -o -m1 'cannot write dataset [^ ]*: No space left on device' "$work/full.log"); left: $(tr '\n' ' ' < "$work/full.files")" \
    "$(since "$t0") (whole run)" "n/a"
fi

# 8. srun without PMI: a step of 2 tasks, no PMI variables (the real srun
# --mpi=none case is in the SLURM tests).
SLURM_STEP_NUM_TASKS=2 timeout 30 "${train[@]}" --out "$work/pmi" > "$work/pmi.log" 2>&1; code=$?
[ "$code" != 0 ] && grep -q "srun --mpi=pmix" "$work/pmi.log" && [ ! -e "$work/pmi" ] ||
  fail "srun without PMI: not detected before training (exit $code)"
record "SLURM_STEP_NUM_TASKS=2, no PMI (srun --mpi=none)" "exit $code before MPI_Init: explained, no training" "-" "n/a"

# 9. Uneven shards: 2003 digits at 3 and 5 ranks. Every rank records the rows it
# trains; each digit must be trained exactly once per epoch.
for np in 3 5; do
  t0=$(now)
  DPMNIST_TRACE_ROWS=$work/odd$np.trace timeout 120 "${mpi[@]}" -np $np "$bin/dpmnist-train" \
    --config "$src/configs/seed.ini" --data "$work/odd.h5" --out "$work/odd$np" --model.hidden=32 \
    --train.batch_size=8 --train.epochs=2 > "$work/odd$np.log" 2>&1; code=$?
  [ "$code" = 0 ] && grep -q "epoch 2/2" "$work/odd$np.log" || { fail "np=$np on 2003 digits: exit $code"; cat "$work/odd$np.log" >&2; }
  counted=""
  for epoch in 1 2; do
    read -r once never twice < <(visit_counts "$work/odd$np.trace" $epoch 2003)
    [ "$once" = 2003 ] || fail "np=$np epoch $epoch: $once digits once, $never never, $twice twice or more"
    counted+="epoch $epoch: $once once, $never never, $twice twice; "
  done
  record "np=$np on 2003 digits (uneven shards)" "exit $code; per digit ${counted%; }" "$(since "$t0")" "n/a"
done

echo
echo "| fault | what happened | seconds from fault to end | --resume auto gives the uninterrupted weights |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
if [ "$failures" = 0 ]; then echo "fault tests: all passed"; else echo "fault tests: $failures failed"; exit 1; fi
