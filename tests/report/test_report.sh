#!/usr/bin/env bash
# tools/report.py on a tiny run made here: a synthetic data file, 3 epochs under
# mpiexec -np 2, both report modes, then check_report.py (figures, HTML, numbers
# against metrics.csv and dpmnist-eval --json), and two inputs that must fail.
#   bash tests/report/test_report.sh BUILD/bin SOURCE_DIR      (builds nothing)
set -euo pipefail
bin=$1
source_dir=$2
python=/usr/bin/python3   # Debian's, which sees python3-numpy/h5py/matplotlib
work=$(mktemp -d "${TMPDIR:-/tmp}/dpmnist-report.XXXXXX")
trap 'rm -rf "$work"' EXIT
mpi=(mpiexec -np 2 --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*" >&2; exit 1; }

"$python" -c 'import numpy, h5py, matplotlib' 2> "$work/import.err" ||
  fail "$python: $(tail -1 "$work/import.err");" \
       "install Debian's python3-numpy python3-h5py python3-matplotlib"

"$bin/make_synthetic_data" "$work/tiny.h5" 600 200
"${mpi[@]}" "$bin/dpmnist-train" --config "$source_dir/configs/seed.ini" --data "$work/tiny.h5" \
  --out "$work/run" --model.hidden=32 --train.batch_size=8 --train.epochs=3 \
  --output.progress_seconds=0 > "$work/train.log" ||
  { cat "$work/train.log"; fail "training the tiny run failed"; }
"$bin/dpmnist-eval" --checkpoint "$work/run/checkpoint.h5" --data "$work/tiny.h5" --json \
  > "$work/eval.json" || fail "dpmnist-eval failed"

"$python" "$source_dir/tools/report.py" --data "$work/tiny.h5" --out "$work/data_report" \
  || fail "data report failed"
"$python" "$source_dir/tools/report.py" --data "$work/tiny.h5" --run "$work/run" \
  --eval-bin "$bin/dpmnist-eval" || fail "run report failed"
"$python" "$source_dir/tests/report/check_report.py" --data-report "$work/data_report" \
  --run-report "$work/run/report" --metrics "$work/run/metrics.csv" --eval "$work/eval.json" \
  --data "$work/tiny.h5" || fail "the reports do not match their sources (above)"

# The checker itself must catch a report whose accuracy disagrees with dpmnist-eval.
cp -r "$work/run/report" "$work/tampered"
sed -i 's/^| test accuracy | \*\*[0-9.]*%/| test accuracy | **12.34%/' "$work/tampered/report.md"
if "$python" "$source_dir/tests/report/check_report.py" --data-report "$work/data_report" \
     --run-report "$work/tampered" --metrics "$work/run/metrics.csv" --eval "$work/eval.json" \
     --data "$work/tiny.h5" > /dev/null 2> "$work/tampered.err"; then
  fail "check_report.py accepted a report with a wrong accuracy"
fi
grep -q "accuracy (%): report.md says 12.34" "$work/tampered.err" ||
  fail "tampered report: unexpected checker message: $(cat "$work/tampered.err")"

# Bad inputs end with a message that names the file, not a traceback.
if "$python" "$source_dir/tools/report.py" --data "$work/tiny.h5" --run "$work/absent" \
     --eval-bin "$bin/dpmnist-eval" > /dev/null 2> "$work/absent.err"; then
  fail "a missing run directory was accepted"
fi
grep -q "error: $work/absent: no such run directory" "$work/absent.err" ||
  fail "missing run directory: unexpected message: $(cat "$work/absent.err")"
mkdir "$work/bad"
cp "$work/run/checkpoint.h5" "$work/bad/"
printf 'epoch,train_loss\n1,0.5\n' > "$work/bad/metrics.csv"
if "$python" "$source_dir/tools/report.py" --data "$work/tiny.h5" --run "$work/bad" \
     --eval-bin "$bin/dpmnist-eval" > /dev/null 2> "$work/bad.err"; then
  fail "a metrics.csv without test_acc was accepted"
fi
grep -q "metrics.csv: header lacks column(s) train_acc, test_loss, test_acc" "$work/bad.err" ||
  fail "bad metrics.csv: unexpected message: $(cat "$work/bad.err")"
grep -q Traceback "$work/absent.err" "$work/bad.err" && fail "a bad input gave a traceback"
echo "report test passed"
