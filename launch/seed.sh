#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install packages, build, fetch
# and verify MNIST, pack it into HDF5, train the seed model with mpirun, and
# evaluate it.  NP=4 launch/seed.sh trains on 4 ranks (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
np=${NP:-2}
run=${RUN:-runs/seed}
step() { echo; echo "== $*"; }

step "1/6 packages";  bash tools/install_deps.sh
step "2/6 build";     bash tools/build.sh --no-tests
step "3/6 fetch";     bash data/fetch_mnist.sh
step "4/6 prepare";   build/bin/dpmnist-prepare --raw data/raw --out data/mnist.h5
step "5/6 train ($np ranks)"
bash launch/train.sh "$np" --config configs/seed.ini --data data/mnist.h5 --out "$run"
step "6/6 evaluate"
build/bin/dpmnist-eval --checkpoint "$run/checkpoint.h5" --data data/mnist.h5 | tee "$run/eval.txt"
build/bin/dpmnist-eval --checkpoint "$run/checkpoint.h5" --data data/mnist.h5 --json > "$run/eval.json"
echo
echo "files: data/mnist.h5  $run/metrics.csv  $run/checkpoint.h5  $run/eval.txt  $run/eval.json"
