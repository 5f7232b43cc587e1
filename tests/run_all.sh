#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install packages
# (GoogleTest, SLURM, Chromium, and numpy/matplotlib/h5py for the report
# tools), build, run every CTest test (unit, MPI at 1-3 ranks, smoke, faults,
# a real single-node SLURM, reports, prediction, server and browser); then
# the unit and MPI tests again under every other OpenBLAS core this CPU can
# execute and with dpmnist's own kernels built for the next lower x86-64 level
# (build-isa/), so that a result that holds for one set of kernels only fails
# here; then the unit and MPI tests built against MPICH (build-mpich/) and the
# same training under both MPIs; then build with AddressSanitizer + UBSan in
# build-asan/ and run the unit, MPI and server API tests there. Small
# synthetic data only; 15 to 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh --tests --analysis
DPMNIST_WERROR=ON bash tools/build.sh
export OPENBLAS_NUM_THREADS=1
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)

# Other CPUs from this one: OpenBLAS's kernels per ISA (Prescott = SSE3,
# Haswell = AVX2, SkylakeX = AVX-512), each that this CPU can run.
flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
cores=(Prescott)
has avx2 fma && cores+=(Haswell)
has avx512f avx512cd avx512bw avx512dq avx512vl && cores+=(SkylakeX)
for core in "${cores[@]}"; do
  echo "[cores] unit and MPI tests with OPENBLAS_CORETYPE=$core"
  (cd build && OPENBLAS_CORETYPE=$core ctest --output-on-failure -j "$(nproc)" --timeout 900 \
     -R '^(unit\.|mpi\.)')
done
# dpmnist's vector kernels (Adam, batch, sparse first layer) as a CPU one
# level down runs them: x86-64-v3 clones on an AVX-512 machine, the baseline
# on an AVX2 one.
isa=x86-64
has avx512f avx512cd avx512bw avx512dq avx512vl && isa=x86-64-v3
echo "[isa] unit and MPI tests with dpmnist's kernels built for $isa only (build-isa/)"
cmake -S . -B build-isa -DCMAKE_BUILD_TYPE=Release -DDPMNIST_ISA=$isa -DDPMNIST_WERROR=ON -DDPMNIST_BUILD_SERVING=OFF \
  -DDPMNIST_BUILD_BENCH=OFF > build-isa.log 2>&1 || { cat build-isa.log; exit 1; }
cmake --build build-isa -j "$(nproc)" >> build-isa.log 2>&1 || { tail -50 build-isa.log; exit 1; }
rm -f build-isa.log
(cd build-isa && ctest --output-on-failure -j "$(nproc)" --timeout 900 -R '^(unit\.|mpi\.)')

# The second MPI: the unit and MPI tests built against MPICH (Debian's mpich
# and libhdf5-mpich-dev, `cmake --preset mpich`) and run through its own
# mpiexec; then the seed configuration trained at np = 2 under each MPI on
# the same synthetic digits must end on the same weights, bit for bit.
echo "[mpich] unit and MPI tests built against MPICH (build-mpich/), and Open MPI = MPICH weights"
cmake --preset mpich -DDPMNIST_BUILD_SERVING=OFF -DDPMNIST_BUILD_BENCH=OFF > build-mpich.log 2>&1 ||
  { cat build-mpich.log; exit 1; }
cmake --build build-mpich -j "$(nproc)" >> build-mpich.log 2>&1 || { tail -50 build-mpich.log; exit 1; }
rm -f build-mpich.log
(cd build-mpich && ctest --output-on-failure -j "$(nproc)" --timeout 900 -R '^(unit\.|mpi\.)')
mpis=$(mktemp -d); trap 'rm -rf "$mpis"' EXIT
build/bin/make_synthetic_data "$mpis/digits.h5" 3001 200 > /dev/null
seed_run=(--config configs/seed.ini --data "$mpis/digits.h5" --model.hidden=32 --train.epochs=2
          --output.progress_seconds=0)
root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
mpirun.openmpi --oversubscribe "${root[@]}" -np 2 build/bin/dpmnist-train "${seed_run[@]}" \
  --out "$mpis/openmpi" > "$mpis/openmpi.log" 2>&1 || { cat "$mpis/openmpi.log"; exit 1; }
mpiexec.mpich -n 2 build-mpich/bin/dpmnist-train "${seed_run[@]}" --out "$mpis/mpich" \
  > "$mpis/mpich.log" 2>&1 || { cat "$mpis/mpich.log"; exit 1; }
weights() { build/bin/dpmnist-eval --checkpoint "$1/checkpoint.h5" --data "$mpis/digits.h5" --json |
  sed -n 's/.*"weights_fnv1a": *"\([0-9a-f]*\)".*/\1/p'; }
a=$(weights "$mpis/openmpi") b=$(weights "$mpis/mpich")
echo "[mpich] np=2: Open MPI weights $a, MPICH weights $b ($(grep -o 'MPICH Version: [0-9.]*' "$mpis/mpich.log" | head -1))"
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "[mpich] FAIL: the two MPIs trained different weights" >&2; exit 1; }

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
