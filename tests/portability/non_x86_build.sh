#!/usr/bin/env bash
# dpmnist compiles off x86-64: every library source (core and predict) is
# compiled for aarch64 with Debian's cross compiler (syntax and semantics, no
# link: the MPI, HDF5 and OpenBLAS headers are this machine's). The x86 parts
# (cpuid, MXCSR, AVX-512 intrinsics, target_clones) must be guarded with a
# scalar fallback. Skipped (exit 0 with a note) without aarch64-linux-gnu-g++.
#   tests/portability/non_x86_build.sh SOURCE_DIR CBLAS_INCLUDE_DIR
set -uo pipefail
src=$1
cblas=$2
compiler=aarch64-linux-gnu-g++
command -v $compiler > /dev/null || { echo "no $compiler (Debian: g++-aarch64-linux-gnu): skipped"; exit 0; }
mpi_include=$(mpicxx --showme:incdirs 2> /dev/null | tr ' ' '\n' | sed 's/^/-I/')
failed=0
count=0
for file in "$src"/src/{core,nn,data,parallel,train,predict}/*.cpp; do
  count=$((count + 1))
  # shellcheck disable=SC2086
  if ! $compiler -std=c++20 -fsyntax-only -w -I"$src/include" -I"$cblas" $mpi_include \
       -I/usr/include/hdf5/openmpi -I/usr/include/stb "$file" > /tmp/non_x86.$$ 2>&1; then
    echo "FAIL: ${file#$src/} does not compile for aarch64:"
    head -5 /tmp/non_x86.$$
    failed=$((failed + 1))
  fi
done
rm -f /tmp/non_x86.$$
echo "$((count - failed)) of $count library sources compile for aarch64"
[ "$failed" = 0 ]
