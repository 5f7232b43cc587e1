#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install packages
# (GoogleTest included), build, run every CTest test (unit, MPI at 1-3 ranks,
# smoke). Uses small synthetic data only; a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh --tests
bash tools/build.sh
export OPENBLAS_NUM_THREADS=1
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 600
