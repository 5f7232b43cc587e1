#!/usr/bin/env bash
# dpmnist across hosts that talk TCP: an emulated cluster of network
# namespaces (cluster_lib.sh) on this machine. Each case trains the same
# synthetic digits on several hosts and on one, where the summation order is
# the same (DPMNIST_RANKS_PER_NODE=k groups k consecutive ranks as a node on
# one host, the layout the hosts have), and requires the same weights, bit for
# bit. Then: a rank killed on the second host ends the job on every host (no
# hang), and a run stopped mid-epoch on the hosts resumes there bit for bit.
#   bash tests/multinode/run_multinode_tests.sh build/bin   (root: ip netns)
set -uo pipefail
bin=$(realpath "${1:?usage: run_multinode_tests.sh BIN_DIR}")
src=$(cd "$(dirname "$0")/../.." && pwd)
source "$src/tests/multinode/cluster_lib.sh"
if [ "$(id -u)" != 0 ] || ! ip netns add dpmnist-probe$$ 2>/dev/null; then
  echo "multinode: skipped: network namespaces need root and iproute2 (ip netns)"
  exit 77
fi
ip netns del dpmnist-probe$$
# The hosts are reached through Open MPI's rsh agent (cluster_lib.sh).
if ! mpirun --version 2>&1 | grep -q "Open MPI\|OpenRTE"; then
  echo "multinode: skipped: mpirun is not Open MPI ($(mpirun --version 2>&1 | head -1))"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/dpmnist-multinode.XXXXXX")
trap 'cluster_down; pkill -9 -f "$work" 2>/dev/null; rm -rf "$work"' EXIT
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
weights() {
  "$bin/dpmnist-eval" --checkpoint "$1/checkpoint.h5" --data "$work/data.h5" --json 2>/dev/null |
    sed -n 's/.*"weights_fnv1a": *"\([0-9a-f]*\)".*/\1/p'
}

"$bin/make_synthetic_data" "$work/data.h5" 3001 200 > /dev/null || { echo "FAIL: no data" >&2; exit 1; }
cluster_up 3 || exit 1
h1=${CLUSTER_HOSTS[0]} h2=${CLUSTER_HOSTS[1]} h3=${CLUSTER_HOSTS[2]}
base=("$bin/dpmnist-train" --config "$src/configs/seed.ini" --data "$work/data.h5"
      --model.hidden=32 --output.progress_seconds=0)
train=("${base[@]}" --train.epochs=2)
one_node=(mpirun --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS=1)

# name | hosts (Open MPI --host) | ranks | ranks per node on one host | options
# [| options on one host, where the path differs: uneven hosts fall back to sharded]
cases=(
  "2 hosts x 1 rank, shm|$h1:1,$h2:1|2|1|"
  "2 hosts x 1 rank, shm, whole gradients|$h1:1,$h2:1|2|1|--train.gradient_factors=false"
  "2 hosts x 1 rank, allreduce|$h1:1,$h2:1|2|1|--train.gradient_sync=allreduce"
  "2 hosts x 1 rank, sharded|$h1:1,$h2:1|2|1|--train.gradient_sync=sharded"
  "2 hosts x 2 ranks, shm|$h1:2,$h2:2|4|2|"
  "2 hosts x 2 ranks, allreduce|$h1:2,$h2:2|4|2|--train.gradient_sync=allreduce"
  "3 hosts of 2, 1, 1 ranks, shm (uneven: sharded)|$h1:2,$h2:1,$h3:1|4|0||--train.gradient_sync=sharded"
  "3 hosts of 2, 1, 1 ranks, allreduce|$h1:2,$h2:1,$h3:1|4|0|--train.gradient_sync=allreduce"
)
echo "| case | hosts | weights on the hosts | on one host | same | gradients (banner) |"
echo "|---|---|---|---|---|---|"
for entry in "${cases[@]}"; do
  IFS='|' read -r name hosts ranks per_node extra one_extra <<< "$entry"
  dir=$work/$(tr -c 'a-z0-9' _ <<< "$name")
  # shellcheck disable=SC2086
  timeout 180 bash -c 'source "$0"; CLUSTER_DIR=$1; shift; cluster_mpirun "$@"' \
    "$src/tests/multinode/cluster_lib.sh" "$CLUSTER_DIR" "$hosts" "${train[@]}" $extra \
    --out "$dir.hosts" > "$dir.hosts.log" 2>&1 ||
    { fail "$name: the run across hosts failed"; tail -20 "$dir.hosts.log" >&2; continue; }
  env_rpn=(); [ "$per_node" != 0 ] && env_rpn=(-x DPMNIST_RANKS_PER_NODE="$per_node")
  # shellcheck disable=SC2086
  timeout 180 "${one_node[@]}" "${env_rpn[@]}" -np "$ranks" "${train[@]}" $extra $one_extra --out "$dir.one" \
    > "$dir.one.log" 2>&1 || { fail "$name: the one-host run failed"; tail -20 "$dir.one.log" >&2; continue; }
  a=$(weights "$dir.hosts") b=$(weights "$dir.one")
  nodes=$(grep -o -m1 'gradients: [a-z]*' "$dir.hosts.log" | cut -d' ' -f2)
  seen=$(grep -h -o 'on dpmh[0-9]' "$dir.hosts.log" | sort -u | tr '\n' ' ')
  same=yes; [ -n "$a" ] && [ "$a" = "$b" ] || { same=NO; fail "$name: weights $a across hosts, $b on one host"; }
  echo "| $name | $hosts | $a | $b | $same | $nodes |"
done

# A rank killed on the second host: every rank on every host must stop.
dir=$work/kill
timeout 120 bash -c 'source "$0"; CLUSTER_DIR=$1; shift; cluster_mpirun "$@"' \
  "$src/tests/multinode/cluster_lib.sh" "$CLUSTER_DIR" "$h1:1,$h2:1" "${base[@]}" --train.epochs=100000 \
  --out "$dir" > "$dir.log" 2>&1 &
job=$!
for _ in $(seq 100); do grep -q '^epoch 1/' "$dir.log" 2>/dev/null && break; sleep 0.2; done
victim=$(ip netns pids "$h2" | while read -r p; do
  [ "$(cat /proc/$p/comm 2>/dev/null)" = dpmnist-train ] && echo "$p"; done | head -1)
start=$(date +%s.%N)
if [ -z "$victim" ]; then
  fail "kill: no dpmnist-train rank found on $h2"
else
  kill -9 "$victim"
  wait "$job"; code=$?
  took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  left=$(pgrep -f "$dir" | wc -l)
  echo "kill -9 of rank 1 on $h2: mpirun exit $code after $took s, $left processes left"
  [ "$code" != 0 ] && [ "$code" != 124 ] || fail "kill: exit $code (124: the job hung until the timeout)"
  [ "$left" = 0 ] || fail "kill: $left processes still running"
fi

# Stopped mid-epoch on the hosts (as a preemption signal would), resumed there.
dir=$work/resume
run_hosts() {
  timeout 120 bash -c 'source "$0"; CLUSTER_DIR=$1; shift; cluster_mpirun "$@"' \
    "$src/tests/multinode/cluster_lib.sh" "$CLUSTER_DIR" "$h1:1,$h2:1" "$@"
}
run_hosts "${train[@]}" --out "$dir.whole" > "$dir.whole.log" 2>&1 || fail "resume: the uninterrupted run failed"
run_hosts -x DPMNIST_FAULT_STOP_AT_STEP=70 "${train[@]}" --out "$dir" > "$dir.stop.log" 2>&1; code=$?
[ "$code" = 75 ] || fail "resume: the stopped run exited $code, expected 75"
run_hosts "${train[@]}" --out "$dir" --resume auto > "$dir.resume.log" 2>&1 || fail "resume: the resume failed"
a=$(weights "$dir.whole") b=$(weights "$dir")
echo "stopped at global step 70 on $h1+$h2 (exit $code), resumed there: weights $b, uninterrupted $a"
[ -n "$a" ] && [ "$a" = "$b" ] || fail "resume: weights $b after resume, $a uninterrupted"

[ "$failures" = 0 ] && echo "multinode: all passed" || echo "multinode: $failures failure(s)"
[ "$failures" = 0 ]
