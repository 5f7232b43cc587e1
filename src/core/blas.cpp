#include "dpmnist/core/blas.h"

#include <cblas.h>
#include <dlfcn.h>

#include <algorithm>
#include <sstream>

#include "dpmnist/core/error.h"

namespace dpmnist {

void gemm(Transpose trans_a, Transpose trans_b, std::size_t M, std::size_t N, std::size_t K,
          float alpha, std::span<const float> A, std::span<const float> B, float beta,
          std::span<float> C) {
  require(A.size() >= M * K && B.size() >= K * N && C.size() >= M * N,
          "gemm: spans too small for [", M, ",", K, "]x[", K, ",", N, "]: A ", A.size(), ", B ",
          B.size(), ", C ", C.size());
  const bool ta = trans_a == Transpose::kYes;
  const bool tb = trans_b == Transpose::kYes;
  gemm_strided(trans_a, trans_b, M, N, K, alpha, A.data(), ta ? M : K, B.data(), tb ? K : N, beta,
               C.data(), N);
}

void gemm_strided(Transpose trans_a, Transpose trans_b, std::size_t M, std::size_t N, std::size_t K,
                  float alpha, const float* A, std::size_t lda, const float* B, std::size_t ldb,
                  float beta, float* C, std::size_t ldc) {
  if (M == 0 || N == 0) return;
  const bool ta = trans_a == Transpose::kYes;
  const bool tb = trans_b == Transpose::kYes;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              to_int(M, "gemm M"), to_int(N, "gemm N"), to_int(K, "gemm K"), alpha, A,
              std::max(1, to_int(lda, "gemm lda")), B, std::max(1, to_int(ldb, "gemm ldb")), beta,
              C, std::max(1, to_int(ldc, "gemm ldc")));
}

void blas_set_threads(int threads) {
  require(threads >= 1, "blas threads must be >= 1, got ", threads);
  // The pthreads build exports its pool's shutdown and start, and restarting
  // the pool gives its workers this thread's MXCSR (flush-to-zero). The
  // OpenMP build exports the same names for its buffers only: libgomp's
  // threads are not restarted, so they keep the mode they started with.
  using PoolCall = int (*)();
  const auto shutdown = reinterpret_cast<PoolCall>(dlsym(RTLD_DEFAULT, "blas_thread_shutdown_"));
  const auto start = reinterpret_cast<PoolCall>(dlsym(RTLD_DEFAULT, "blas_thread_init"));
  if (threads > 1 && shutdown && start) {
    shutdown();
    start();
  }
  openblas_set_num_threads(threads);
}

int blas_threads() {
  return openblas_get_num_threads();
}

std::string blas_core_name() {
  return openblas_get_corename();
}

std::string blas_config() {
  return openblas_get_config();
}

std::string blas_version() {
  std::istringstream config(blas_config());
  std::string name, version;
  config >> name >> version;
  return name + " " + version;
}

}  // namespace dpmnist
