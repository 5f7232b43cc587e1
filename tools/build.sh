#!/usr/bin/env bash
# Configures and builds dpmnist (Release) into build/, with the tests unless
# --no-tests. Executables land in build/bin. DPMNIST_WERROR=ON (the test suite)
# makes warnings errors.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=ON
[ "${1:-}" = "--no-tests" ] && tests=OFF
echo "[build] cmake -S . -B build (tests $tests)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDPMNIST_BUILD_TESTS=$tests \
  -DDPMNIST_WERROR="${DPMNIST_WERROR:-OFF}" > build.log 2>&1 ||
  { cat build.log; exit 1; }
cmake --build build -j "$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
rm -f build.log
echo "[build] done: $(ls build/bin | tr '\n' ' ')"
