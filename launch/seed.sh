#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install packages, build, fetch
# and verify MNIST, pack it into HDF5, train the seed model with mpirun,
# evaluate it, and write the run's report (figures + report.md/html).
# NP=4 launch/seed.sh trains on 4 ranks (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
np=${NP:-2}
run=${RUN:-runs/seed}
step() { echo; echo "== $*"; }

step "1/7 packages";  bash tools/install_deps.sh --analysis
step "2/7 build";     bash tools/build.sh --no-tests
step "3/7 fetch";     bash data/fetch_mnist.sh
step "4/7 prepare";   build/bin/dpmnist-prepare --raw data/raw --out data/mnist.h5
step "5/7 train ($np ranks)"
bash launch/train.sh "$np" --config configs/seed.ini --data data/mnist.h5 --out "$run"
step "6/7 evaluate"
build/bin/dpmnist-eval --checkpoint "$run/checkpoint.h5" --data data/mnist.h5 | tee "$run/eval.txt"
build/bin/dpmnist-eval --checkpoint "$run/checkpoint.h5" --data data/mnist.h5 --json > "$run/eval.json"
step "7/7 report"
/usr/bin/python3 tools/report.py --data data/mnist.h5 --run "$run"
echo
echo "files: data/mnist.h5  $run/metrics.csv  $run/checkpoint.h5  $run/eval.txt  $run/eval.json"
echo "report: $run/report/report.html (and report.md)"
