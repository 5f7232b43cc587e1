// The only door to BLAS: row-major single-precision GEMM and the thread count.
// Shapes are checked against the spans; no other BLAS routine is used.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace dpmnist {

enum class Transpose { kNo, kYes };

// C [M,N] = alpha * op(A) * op(B) + beta * C, all row-major contiguous.
// op(A) is [M,K] (A stored [M,K], or [K,M] when transposed); op(B) is [K,N].
// beta = 0 overwrites C, beta = 1 accumulates into it.
void gemm(Transpose trans_a, Transpose trans_b, std::size_t M, std::size_t N, std::size_t K,
          float alpha, std::span<const float> A, std::span<const float> B, float beta,
          std::span<float> C);

// The same on sub-matrices: lda, ldb, ldc are the row strides of the stored
// A, B and C (e.g. a block of columns of a wider matrix).
void gemm_strided(Transpose trans_a, Transpose trans_b, std::size_t M, std::size_t N, std::size_t K,
                  float alpha, const float* A, std::size_t lda, const float* B, std::size_t ldb,
                  float beta, float* C, std::size_t ldc);

// Sets OpenBLAS's thread count for this process (one per rank by default).
// Its worker threads are restarted from the calling thread first, so they
// inherit its floating-point mode (OpenBLAS starts them when it loads, before
// main() can set flush-to-zero).
void blas_set_threads(int threads);
int blas_threads();

// The core OpenBLAS chose at load ("Prescott", "Haswell", "SkylakeX", ...),
// and "OpenBLAS <version>" from its build configuration.
std::string blas_core_name();
// openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64".
std::string blas_config();
std::string blas_version();

}  // namespace dpmnist
