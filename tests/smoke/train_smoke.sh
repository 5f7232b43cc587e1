#!/usr/bin/env bash
# Smoke test of the executables as a user runs them: dpmnist-train under
# mpiexec -np 2 on a tiny synthetic file, dpmnist-eval on its checkpoint, and
# errors (bad configuration, missing file) that end every rank with a message.
set -euo pipefail
bin=$1
source_dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/dpmnist-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
mpi=(mpiexec -np 2 --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin/make_synthetic_data" "$work/tiny.h5" 203 57
"${mpi[@]}" "$bin/dpmnist-train" --config "$source_dir/configs/seed.ini" --data "$work/tiny.h5" \
  --out "$work/run" --train.epochs 2 --model.hidden 32 --train.batch_size 8 | tee "$work/train.log"
grep -q "epoch 2/2" "$work/train.log" || fail "no progress line for epoch 2"
[ "$(wc -l < "$work/run/metrics.csv")" = 3 ] || fail "metrics.csv should have a header and 2 rows"
[ -f "$work/run/checkpoint.h5" ] || fail "no checkpoint.h5"

"$bin/dpmnist-eval" --checkpoint "$work/run/checkpoint.h5" --data "$work/tiny.h5" --json > "$work/eval.json"
grep -q '"accuracy"' "$work/eval.json" || fail "dpmnist-eval --json has no accuracy"
grep -q '"count": *57[,}]' "$work/eval.json" || fail "dpmnist-eval should evaluate all 57 test digits"

# A bad value must end both ranks promptly, naming the key and the rank.
if timeout 60 "${mpi[@]}" "$bin/dpmnist-train" --data "$work/tiny.h5" --out "$work/bad" \
     --train.lr_scaling=cubic 2> "$work/bad.err"; then
  fail "a bad configuration value was accepted"
fi
grep -q "lr_scaling" "$work/bad.err" || fail "the error does not name train.lr_scaling"
grep -q "\[rank" "$work/bad.err" || fail "the error does not name the rank"

# A missing data file: an error naming the file, not a hang.
if timeout 60 "${mpi[@]}" "$bin/dpmnist-train" --data "$work/absent.h5" --out "$work/absent" \
     2> "$work/absent.err"; then
  fail "a missing data file was accepted"
fi
grep -q "absent.h5" "$work/absent.err" || fail "the error does not name the missing file"
echo "smoke test passed"
