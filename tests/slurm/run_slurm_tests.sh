#!/usr/bin/env bash
# The slurm/ scripts against a real SLURM: starts a private one-node cluster
# (tests/slurm/cluster.sh: munged, slurmctld, slurmd as root on loopback, every
# file in one temporary directory), runs the tests below, stops the daemons by
# PID on exit (also on failure or interrupt). One PASS/FAIL line per test; exit
# status 1 if any failed, including when SLURM cannot be started here.
#   bash tests/slurm/run_slurm_tests.sh BUILD_BIN SOURCE_DIR
#   a. train.sbatch, 2 tasks, tiny data: COMPLETED, metrics, checkpoint, accuracy
#   b. preemption: USR1 to the batch shell -> checkpoint, exit 75, requeue,
#      resume, COMPLETED, final weights == an uninterrupted srun run (bitwise)
#   c. scaling.sbatch with 1 and 2 tasks: both steps, summary table
#   d. srun --mpi=none -n 2: fails with the trainer's explanation, trains nothing
#   e. multinode.sbatch (one node here): runs train.sbatch's body to COMPLETED
#   f. scancel (TERM): checkpoint written, CANCELLED, not requeued
#   g. the time limit: --time=1 --signal=B:USR1@20 -> checkpoint, exit 75, requeue
#   h. DPMNIST_SRUN_MPI naming a plugin this SLURM lacks: FAILED at once, the
#      error lists the plugins it has, nothing trained
# Every sbatch names its MPI plugin, so a..g pass under any MpiDefault: CTest
# runs this file under none (SLURM's default) and pmix (SLURM_TEST_MPI_DEFAULT).
# KEEP=1 keeps the temporary directory even when everything passed.
set -uo pipefail

if [ $# -ne 2 ]; then
  sed -n '2,20p' "$0" >&2
  exit 2
fi
bin=$(cd "$1" && pwd) || exit 2
src=$(cd "$2" && pwd) || exit 2
here=$(cd "$(dirname "$0")" && pwd)
t_start=$SECONDS
# Every wait below is also cut to this budget, well inside CTest's TIMEOUT 900.
deadline=$((SECONDS + ${SLURM_TEST_BUDGET:-780}))

say() { echo "[slurm-test $(date +%H:%M:%S)] $*"; }
passed=()
failed=()
pass() {
  passed+=("$1")
  echo "PASS $1: ${*:2}"
}
fail() {
  failed+=("$1")
  echo "FAIL $1: ${*:2}"
}

tmp=$(mktemp -d /tmp/dpmnist-slurm-test.XXXXXX)
work=$tmp/work
mkdir -p "$work/runs"
chmod 0755 "$tmp"

# shellcheck source=tests/slurm/cluster.sh
source "$here/cluster.sh"
finish() {
  local rc=$?
  trap - EXIT INT TERM
  cluster_stop "$tmp/cluster"
  local t=$((SECONDS - t_start))
  if [ ${#failed[@]} -eq 0 ] && [ $rc -eq 0 ]; then
    echo "slurm tests: ${#passed[@]} passed (${passed[*]}), 0 failed, ${t} s"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
    exit 0
  fi
  echo "slurm tests: ${#passed[@]} passed (${passed[*]:-}), ${#failed[@]} failed (${failed[*]:-}), ${t} s;" \
    "job outputs, run directories and daemon logs kept in $tmp"
  exit 1
}
trap finish EXIT
trap 'say "interrupted"; failed+=(interrupted); exit 1' INT TERM

for f in dpmnist-train dpmnist-eval make_synthetic_data; do
  if [ ! -x "$bin/$f" ]; then
    fail setup "$bin/$f not found: build first (cmake --build build)"
    exit 1
  fi
done

if ! cluster_start "$tmp/cluster" 4; then
  fail setup "could not start the test SLURM (reason above); packages: bash tools/install_deps.sh --tests"
  exit 1
fi
say "$(sinfo -V), MpiDefault=$(scontrol show config | sed -n 's/^MpiDefault *= *//p')," \
  "$(ompi_info --version 2> /dev/null | head -n 1)," \
  "node $(sinfo -h -o '%n %c CPUs %T'), work dir $work"

"$bin/make_synthetic_data" "$work/tiny.h5" 2000 200 > /dev/null || { fail setup "make_synthetic_data tiny.h5"; exit 1; }
"$bin/make_synthetic_data" "$work/medium.h5" 20000 200 > /dev/null || { fail setup "make_synthetic_data medium.h5"; exit 1; }

config=$src/configs/seed.ini
small=(--model.hidden=32 --train.batch_size=8 --output.progress_seconds=0)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# job_field ID FIELD: one field of `scontrol show job` (accounting is off, so no sacct)
job_field() {
  scontrol show job -o "$1" 2> /dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
job_line() {
  echo "job $1 JobState=$(job_field "$1" JobState) Reason=$(job_field "$1" Reason)" \
    "ExitCode=$(job_field "$1" ExitCode) Restarts=$(job_field "$1" Restarts)"
}

# budget SECONDS: SECONDS, or less if the test's whole budget ends sooner
budget() {
  local left=$((deadline - SECONDS))
  [ "$left" -gt 0 ] || left=1
  [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}
# wait_until SECONDS COMMAND...: polls every 0.2 s; non-zero on timeout
wait_until() {
  local limit t0=$SECONDS
  limit=$(budget "$1")
  shift
  until "$@"; do
    [ $((SECONDS - t0)) -lt "$limit" ] || return 1
    sleep 0.2
  done
}
job_ended() {
  case $(job_field "$1" JobState) in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) return 0 ;;
  esac
  return 1
}
# wait_job_end ID SECONDS: non-zero on timeout
wait_job_end() {
  wait_until "$2" job_ended "$1"
}

# submit SCRIPT DATA SBATCH_OPTIONS... -- SCRIPT_ARGS...: prints the job id.
# Submitted from the source tree (multinode.sbatch finds train.sbatch through
# SLURM_SUBMIT_DIR); the job works in $work, so runs/ and outputs land there.
submit() {
  local script=$1 data=$2 opts=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
  done
  shift
  (cd "$src" && DPMNIST_BIN=$bin DPMNIST_DATA=$data sbatch --parsable --chdir="$work" "${opts[@]}" \
    "$script" "$config" "$@")
}

weights_of() { # CHECKPOINT DATA: the eval's weights_fnv1a
  "$bin/dpmnist-eval" --checkpoint "$1" --data "$2" --json 2> /dev/null |
    grep -o '"weights_fnv1a": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{8,\}'
}
accuracy_of() { # EVAL_JSON: the top-level accuracy
  grep -o '"accuracy": *[0-9.]*' "$1" 2> /dev/null | head -n 1 | grep -o '[0-9.]*$'
}
show_output() { # FILE: the job's output, indented, for a failure's context
  echo "  ---- $1"
  sed 's/^/  | /' "$1" 2> /dev/null | grep -v '^  |  *[0-9]  *[0-9]' | tail -n "${2:-25}"
}

# ---- a. train.sbatch on a tiny dataset --------------------------------------
test_a() {
  local id out run t0=$SECONDS why=() acc rows
  id=$(submit slurm/train.sbatch "$work/tiny.h5" --ntasks=2 -- "${small[@]}" --train.epochs=3) ||
    { fail a "sbatch slurm/train.sbatch refused the job"; return; }
  out=$work/runs/dpmnist-train-$id.out
  run=$work/runs/dpmnist-train-$id
  say "a. submitted slurm/train.sbatch as job $id (2 tasks, 3 epochs, tiny.h5)"
  wait_job_end "$id" 180 || why+=("no end within 180 s")
  [ "$(job_field "$id" JobState)" = COMPLETED ] || why+=("state $(job_field "$id" JobState), wanted COMPLETED")
  [ "$(job_field "$id" ExitCode)" = 0:0 ] || why+=("ExitCode $(job_field "$id" ExitCode)")
  rows=$(($(wc -l < "$run/metrics.csv" 2> /dev/null || echo 1) - 1))
  [ "$rows" = 3 ] || why+=("$run/metrics.csv has $rows epoch rows, wanted 3")
  [ -s "$run/checkpoint.h5" ] || why+=("no $run/checkpoint.h5")
  acc=$(accuracy_of "$run/eval.json")
  [ -n "$acc" ] || why+=("no accuracy in $run/eval.json")
  grep -q "test set: 200 digits, accuracy" "$out" 2> /dev/null || why+=("the job output shows no test accuracy")
  grep -q "2 rank(s)" "$out" 2> /dev/null || why+=("the trainer did not report 2 ranks")
  if [ ${#why[@]} -eq 0 ]; then
    pass a "train.sbatch $(job_line "$id"), $((SECONDS - t0)) s; 3 epochs in metrics.csv, checkpoint.h5," \
      "test accuracy $acc ($(grep -o 'test set: .*' "$out"))"
  else
    fail a "train.sbatch $(job_line "$id"): $(printf '%s; ' "${why[@]}")"
    show_output "$out"
  fi
}

# ---- b. preemption: USR1 -> checkpoint -> exit 75 -> requeue -> resume -------
test_b() {
  local id out run ref t0=$SECONDS why=() epochs=20 state restarts w_job w_ref resumed
  local args=("${small[@]}" "--train.epochs=$epochs")
  id=$(submit slurm/train.sbatch "$work/medium.h5" --ntasks=2 -- "${args[@]}") ||
    { fail b "sbatch slurm/train.sbatch refused the job"; return; }
  out=$work/runs/dpmnist-train-$id.out
  run=$work/runs/dpmnist-train-$id
  say "b. submitted slurm/train.sbatch as job $id (2 tasks, $epochs epochs, medium.h5)"
  if ! wait_until 120 bash -c "ls '$run'/checkpoint-*.h5 > /dev/null 2>&1"; then
    fail b "job $id wrote no checkpoint within 120 s: $(job_line "$id")"
    show_output "$out"
    return
  fi
  local ckpts=("$run"/checkpoint-*.h5)
  say "b. job $id $(job_field "$id" JobState) with ${#ckpts[@]} checkpoint(s): scancel --signal=USR1 --batch $id"
  scancel --signal=USR1 --batch "$id" || why+=("scancel --signal=USR1 --batch failed")
  # requeued: back to PENDING (BeginTime, 120 s away) with Restarts=1
  if ! wait_until 60 bash -c "scontrol show job -o $id | grep -q 'Restarts=1' &&
                              scontrol show job -o $id | grep -q 'JobState=PENDING'"; then
    if [ "$(job_field "$id" JobState)" = COMPLETED ]; then
      fail b "job $id finished all $epochs epochs before USR1 reached the trainer: lengthen the run"
    else
      fail b "job $id was not requeued within 60 s of USR1: $(job_line "$id")"
    fi
    show_output "$out"
    return
  fi
  # SLURM holds a requeued job for 120 s; start it now, but in a later second
  # than the requeue: slurmd refuses a job credential created in the second
  # the old one was revoked ("Job credential revoked", the job FAILS).
  sleep 2
  say "b. requeued: $(job_line "$id") EligibleTime=$(job_field "$id" EligibleTime);" \
    "scontrol update JobId=$id StartTime=now"
  scontrol update JobId="$id" StartTime=now || why+=("scontrol update StartTime=now failed")
  wait_job_end "$id" 240 || why+=("no end within 240 s of the requeue")
  state=$(job_field "$id" JobState)
  restarts=$(job_field "$id" Restarts)
  [ "$state" = COMPLETED ] || why+=("state $state, wanted COMPLETED")
  [ "$restarts" = 1 ] || why+=("Restarts=$restarts, wanted 1")
  grep -q "got USR1" "$out" || why+=("the batch script did not log USR1")
  grep -q "stopped by a signal" "$out" || why+=("the trainer did not log its stop")
  grep -q "exit 75.*requeueing job $id" "$out" || why+=("no 'exit 75 ... requeueing' in the output")
  grep -q "start 2 (restarts 1)" "$out" || why+=("no second start in the (appended) output")
  resumed=$(grep -o 'resumed from .*' "$out" | head -n 1)
  [ -n "$resumed" ] || why+=("the second start did not resume ('resumed from' missing)")

  ref=$work/reference-np2
  say "b. reference: srun --mpi=pmix -n 2 dpmnist-train, same configuration, uninterrupted -> $ref"
  (cd "$work" && timeout "$(budget 300)" srun --mpi=pmix -n 2 "$bin/dpmnist-train" --config "$config" \
    --data "$work/medium.h5" --out "$ref" "${args[@]}" > "$ref.log" 2>&1) ||
    why+=("the reference srun run failed (see $ref.log)")
  w_job=$(weights_of "$run/checkpoint.h5" "$work/medium.h5")
  w_ref=$(weights_of "$ref/checkpoint.h5" "$work/medium.h5")
  if [ -z "$w_job" ] || [ "$w_job" != "$w_ref" ]; then
    why+=("final weights_fnv1a ${w_job:-none} (requeued job) != ${w_ref:-none} (uninterrupted)")
  fi
  if [ ${#why[@]} -eq 0 ]; then
    pass b "job $id: USR1 -> '$(grep -o 'stopped by a signal at [^;]*' "$out" | head -n 1)' -> exit 75 ->" \
      "requeued (Restarts=1) -> $resumed -> $(job_line "$id"), $((SECONDS - t0)) s;" \
      "weights_fnv1a $w_job == uninterrupted $w_ref"
  else
    fail b "job $id: $(printf '%s; ' "${why[@]}")"
    show_output "$out" 40
  fi
}

# ---- c. scaling.sbatch with 1 and 2 tasks ----------------------------------
test_c() {
  local id out study t0=$SECONDS why=() n
  id=$(DPMNIST_SCALING_TASKS="1 2" submit slurm/scaling.sbatch "$work/tiny.h5" --ntasks=2 -- \
    "${small[@]}" --train.epochs=3) || { fail c "sbatch slurm/scaling.sbatch refused the job"; return; }
  out=$work/runs/dpmnist-scaling-$id.out
  study=$work/runs/dpmnist-scaling-$id
  say "c. submitted slurm/scaling.sbatch as job $id (task counts 1 2, 3 epochs, tiny.h5)"
  wait_job_end "$id" 240 || why+=("no end within 240 s")
  [ "$(job_field "$id" JobState)" = COMPLETED ] || why+=("state $(job_field "$id" JobState), wanted COMPLETED")
  for n in 1 2; do
    [ "$(($(wc -l < "$study/np$n/metrics.csv" 2> /dev/null || echo 1) - 1))" = 3 ] ||
      why+=("$study/np$n/metrics.csv lacks 3 epoch rows")
    grep -q "^$n  *3  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9]*  *[0-9.]*x$" "$study/summary.txt" 2> /dev/null ||
      why+=("no summary row for $n task(s)")
  done
  grep -q "^1 .* 1\.00x$" "$study/summary.txt" 2> /dev/null || why+=("the 1-task row is not the 1.00x baseline")
  if [ ${#why[@]} -eq 0 ]; then
    pass c "scaling.sbatch $(job_line "$id"), $((SECONDS - t0)) s; steps np1 and np2 completed, summary:"
    sed 's/^/    /' "$study/summary.txt"
  else
    fail c "scaling.sbatch $(job_line "$id"): $(printf '%s; ' "${why[@]}")"
    show_output "$out"
  fi
}

# ---- d. srun without PMI ---------------------------------------------------
test_d() {
  local rc log=$work/nopmi.log t0=$SECONDS why=()
  say "d. srun --mpi=none -n 2 dpmnist-train (no PMI: Open MPI cannot wire the ranks)"
  (cd "$work" && timeout "$(budget 120)" srun --mpi=none -n 2 "$bin/dpmnist-train" --config "$config" \
    --data "$work/tiny.h5" --out "$work/nopmi" "${small[@]}" --train.epochs=1 > "$log" 2>&1)
  rc=$?
  [ $rc -ne 124 ] || why+=("still running after 120 s (hang)")
  [ $rc -ne 0 ] || why+=("exit 0: the two tasks trained as separate one-rank jobs")
  ! grep -q "1 rank(s)" "$log" || why+=("a one-rank training started")
  [ ! -e "$work/nopmi/metrics.csv" ] || why+=("$work/nopmi/metrics.csv was written")
  # the trainer's own explanation names the fix; Open MPI's message alone does not
  grep -q -- "--mpi=pmix" "$log" ||
    why+=("exit $rc but without the trainer's explanation naming srun --mpi=pmix (first lines: $(grep -v '^-*$' "$log" | head -n 3 | tr '\n' ' '))")
  if [ ${#why[@]} -eq 0 ]; then
    pass d "srun --mpi=none -n 2: exit $rc in $((SECONDS - t0)) s, nothing trained: $(grep -m 1 -- '--mpi=pmix' "$log" | cut -c1-200)"
  else
    fail d "srun --mpi=none -n 2: $(printf '%s; ' "${why[@]}")"
  fi
}

# ---- e. multinode.sbatch, on the one node there is ---------------------------
test_e() {
  local id out run t0=$SECONDS why=()
  id=$(submit slurm/multinode.sbatch "$work/tiny.h5" --nodes=1 --ntasks-per-node=2 -- "${small[@]}" \
    --train.epochs=2) || { fail e "sbatch slurm/multinode.sbatch refused the job"; return; }
  out=$work/runs/dpmnist-multinode-$id.out
  run=$work/runs/dpmnist-multinode-$id
  say "e. submitted slurm/multinode.sbatch as job $id (--nodes=1 --ntasks-per-node=2, 2 epochs)"
  wait_job_end "$id" 180 || why+=("no end within 180 s")
  [ "$(job_field "$id" JobState)" = COMPLETED ] || why+=("state $(job_field "$id" JobState), wanted COMPLETED")
  [ -s "$run/checkpoint.h5" ] || why+=("no $run/checkpoint.h5")
  grep -q "2 rank(s)" "$out" 2> /dev/null || why+=("the trainer did not report 2 ranks")
  if [ ${#why[@]} -eq 0 ]; then
    pass e "multinode.sbatch $(job_line "$id"), $((SECONDS - t0)) s; run dir runs/dpmnist-multinode-$id"
  else
    fail e "multinode.sbatch $(job_line "$id"): $(printf '%s; ' "${why[@]}")"
    show_output "$out"
  fi
}

# ---- f. scancel: checkpoint, CANCELLED, no requeue --------------------------
test_f() {
  local id out run t0=$SECONDS why=()
  id=$(submit slurm/train.sbatch "$work/medium.h5" --ntasks=2 -- "${small[@]}" --train.epochs=20) ||
    { fail f "sbatch slurm/train.sbatch refused the job"; return; }
  out=$work/runs/dpmnist-train-$id.out
  run=$work/runs/dpmnist-train-$id
  say "f. submitted slurm/train.sbatch as job $id; scancel once it has a checkpoint"
  if ! wait_until 120 bash -c "ls '$run'/checkpoint-*.h5 > /dev/null 2>&1"; then
    fail f "job $id wrote no checkpoint within 120 s: $(job_line "$id")"
    return
  fi
  scancel "$id"
  wait_job_end "$id" 60 || why+=("no end within 60 s of scancel")
  sleep 2 # a wrong requeue would show by now
  [ "$(job_field "$id" JobState)" = CANCELLED ] || why+=("state $(job_field "$id" JobState), wanted CANCELLED")
  [ "$(job_field "$id" Restarts)" = 0 ] || why+=("Restarts=$(job_field "$id" Restarts): scancel was turned into a requeue")
  grep -q "stopped by a signal" "$out" || why+=("the trainer did not checkpoint on TERM")
  if [ ${#why[@]} -eq 0 ]; then
    pass f "scancel $id: $(job_line "$id"), $((SECONDS - t0)) s;" \
      "'$(grep -o 'stopped by a signal at [^;]*' "$out" | head -n 1)', not requeued"
  else
    fail f "scancel $id: $(printf '%s; ' "${why[@]}")"
    show_output "$out"
  fi
}

# ---- g. the time limit: --signal=B:USR1@20 with --time=1 -------------------
# slurmctld looks about every 30 s and signals once the time left is within
# the warning + 30 s: @20 on a 60 s limit lands 10-40 s in (15-27 s measured),
# after the trainer has started and before the limit.
test_g() {
  local id out run t0=$SECONDS why=() runtime requeued
  id=$(submit slurm/train.sbatch "$work/medium.h5" --ntasks=2 --time=1 --signal=B:USR1@20 -- \
    "${small[@]}" --train.epochs=2000) || { fail g "sbatch slurm/train.sbatch refused the job"; return; }
  out=$work/runs/dpmnist-train-$id.out
  run=$work/runs/dpmnist-train-$id
  say "g. submitted slurm/train.sbatch as job $id with --time=1 --signal=B:USR1@20 (2000 epochs: far past the limit)"
  if ! wait_until 90 bash -c "scontrol show job -o $id | grep -q 'Restarts=1'"; then
    fail g "job $id was not requeued within 90 s: $(job_line "$id")"
    show_output "$out"
    return
  fi
  runtime=$((SECONDS - t0))
  grep -q "got USR1" "$out" || why+=("the batch script did not log USR1")
  grep -q "stopped by a signal" "$out" || why+=("the trainer did not log its stop")
  grep -q "exit 75.*requeueing job $id" "$out" || why+=("no 'exit 75 ... requeueing' in the output")
  [ "$runtime" -lt 60 ] || why+=("requeued only after ${runtime} s, past the 60 s limit")
  requeued=$(job_line "$id")
  scancel "$id"
  if [ ${#why[@]} -eq 0 ]; then
    pass g "job $id: USR1 from SLURM ${runtime} s into a 60 s limit ->" \
      "'$(grep -o 'stopped by a signal at [^;]*' "$out" | head -n 1)' -> exit 75 -> requeued" \
      "($requeued); then cancelled"
  else
    fail g "job $id: $(printf '%s; ' "${why[@]}")"
    show_output "$out"
  fi
}

test_h() {
  local id out run why=()
  id=$(DPMNIST_SRUN_MPI=nosuch submit slurm/train.sbatch "$work/tiny.h5" --ntasks=2 -- "${small[@]}") ||
    { fail h "sbatch slurm/train.sbatch refused the job"; return; }
  out=$work/runs/dpmnist-train-$id.out
  run=$work/runs/dpmnist-train-$id
  say "h. submitted slurm/train.sbatch as job $id with DPMNIST_SRUN_MPI=nosuch"
  wait_job_end "$id" 60 || why+=("no end within 60 s")
  [ "$(job_field "$id" JobState)" = FAILED ] || why+=("state $(job_field "$id" JobState), wanted FAILED")
  grep -q "no 'nosuch' MPI plugin (srun --mpi=list: .*pmix" "$out" 2> /dev/null ||
    why+=("no error naming the plugin and listing pmix")
  [ ! -e "$run/metrics.csv" ] || why+=("it trained: $run/metrics.csv exists")
  if [ ${#why[@]} -eq 0 ]; then
    pass h "$(job_line "$id"): $(grep -o "error: this SLURM.*" "$out" | head -n 1 | cut -c1-160)"
  else
    fail h "job $id: $(printf '%s; ' "${why[@]}")"
    show_output "$out"
  fi
}

test_a
test_h
test_d
test_c
test_e
test_b
test_f
test_g
[ ${#failed[@]} -eq 0 ]
