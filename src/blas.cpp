#include "dpmnist/blas.h"

#include <cblas.h>

#include <algorithm>

#include "dpmnist/error.h"

namespace dpmnist {

void gemm(Transpose trans_a, Transpose trans_b, std::size_t M, std::size_t N, std::size_t K,
          float alpha, std::span<const float> A, std::span<const float> B, float beta,
          std::span<float> C) {
  require(A.size() >= M * K && B.size() >= K * N && C.size() >= M * N, "gemm: spans too small for [",
          M, ",", K, "]x[", K, ",", N, "]: A ", A.size(), ", B ", B.size(), ", C ", C.size());
  if (M == 0 || N == 0) return;
  const bool ta = trans_a == Transpose::kYes;
  const bool tb = trans_b == Transpose::kYes;
  const int m = to_int(M, "gemm M"), n = to_int(N, "gemm N"), k = to_int(K, "gemm K");
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, A.data(), std::max(1, ta ? m : k), B.data(), std::max(1, tb ? k : n), beta,
              C.data(), n);
}

void blas_set_threads(int threads) {
  require(threads >= 1, "blas threads must be >= 1, got ", threads);
  openblas_set_num_threads(threads);
}

}  // namespace dpmnist
