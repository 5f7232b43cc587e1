#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install packages
# (GoogleTest, SLURM, Chromium, and numpy/matplotlib/h5py for the report
# tools), build, run every CTest test (unit, MPI at 1-3 ranks, smoke, faults,
# a real single-node SLURM, reports, prediction, server and browser), then
# build again with AddressSanitizer + UBSan in build-asan/ and run the unit,
# MPI and server API tests there. Small synthetic data only; about 10 minutes
# on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh --tests --analysis
bash tools/build.sh
export OPENBLAS_NUM_THREADS=1
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)

echo "[asan] AddressSanitizer + UBSan build of the unit and MPI tests (build-asan/)"
cmake --preset asan > /dev/null
cmake --build build-asan -j "$(nproc)" > build-asan.log 2>&1 || { tail -50 build-asan.log; exit 1; }
rm -f build-asan.log
# Full unwinding so suppressions see Open MPI's frames; its plugins stay
# loaded so their allocations can be attributed. Our code is not suppressed.
export ASAN_OPTIONS=fast_unwind_on_malloc=0:abort_on_error=0
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMPI_MCA_mca_base_component_disable_dlclose=1
(cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 900 -R '^(unit\.|mpi\.|serve\.(json|api))')
