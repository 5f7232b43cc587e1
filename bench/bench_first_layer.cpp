// dpmnist-bench-first-layer: the first layer's work in one training step, the
// dense sgemm against the sparse kernels (sparse_input.h), on real MNIST
// batches, one thread: forward y = x W + b and weight gradient dW += x^T dy,
// the sparse side including building its CSR/CSC from x.
//   dpmnist-bench-first-layer [--data data/mnist.h5] [--batch 32] [--hidden 128] [--steps 1750]
//                             [--csv FILE]  (appends one row; writes the header if FILE is new)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dpmnist/core/blas.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/data/batch.h"
#include "dpmnist/data/dataset.h"
#include "dpmnist/data/hdf5_file.h"
#include "dpmnist/nn/dense.h"
#include "dpmnist/nn/sparse_input.h"
#include "dpmnist/parallel/comm.h"

using namespace dpmnist;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  std::string data = "data/mnist.h5", csv;
  std::size_t B = 32, O = 128, steps = 1750;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string key = argv[a];
    if (key == "--data")
      data = argv[a + 1];
    else if (key == "--batch")
      B = std::strtoul(argv[a + 1], nullptr, 10);
    else if (key == "--hidden")
      O = std::strtoul(argv[a + 1], nullptr, 10);
    else if (key == "--steps")
      steps = std::strtoul(argv[a + 1], nullptr, 10);
    else if (key == "--csv")
      csv = argv[a + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[a]);
      return 2;
    }
  }
  constexpr std::size_t I = 784;
  blas_set_threads(1);  // one rank's view: the sparse kernels are single-threaded too
  const H5File file = H5File::open_read(data);
  const Digits digits = read_digits(file, "train", {0, std::min<std::size_t>(56000, steps * B)});
  const std::size_t batches = digits.size() / B;
  std::vector<float> x(batches * B * I);
  std::vector<std::uint8_t> labels(B);
  for (std::size_t b = 0; b < batches; ++b) {
    gather_rows(digits, b * B, B, std::span<float>(x).subspan(b * B * I, B * I), labels);
  }
  std::vector<float> W(I * O), bias(O, 0.01f), y(B * O), dy(B * O), dW(I * O, 0.0f);
  Rng rng(1);
  for (float& w : W) w = rng.uniform(-0.07f, 0.07f);
  for (float& v : dy) v = rng.uniform(-0.01f, 0.01f);
  SparseBatch sparse;
  sparse.reserve(B, I);
  std::size_t nonzeros = 0;
  // The faster of 3 passes over all batches (the first warms caches and clocks).
  auto per_step_us = [&](auto&& one) {
    double best = 1e300;
    for (int pass = 0; pass < 3; ++pass) {
      const auto start = Clock::now();
      for (std::size_t b = 0; b < batches; ++b) {
        one(std::span<const float>(x).subspan(b * B * I, B * I));
      }
      best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
    }
    return best / static_cast<double>(batches) * 1e6;
  };
  const double dense_fwd =
      per_step_us([&](std::span<const float> xb) { dense_forward(xb, W, bias, y, B, I, O); });
  const double dense_grad = per_step_us(
      [&](std::span<const float> xb) { dense_weight_grad_rows(dy, xb, dW, B, I, O, 0, I); });
  const double build_rows =
      per_step_us([&](std::span<const float> xb) { sparse_batch_build_rows(xb, B, I, sparse); });
  for (std::size_t b = 0; b < batches; ++b) {
    nonzeros +=
        sparse_batch_build_rows(std::span<const float>(x).subspan(b * B * I, B * I), B, I, sparse);
  }
  const double sparse_fwd = per_step_us([&](std::span<const float> xb) {
                              sparse_batch_build_rows(xb, B, I, sparse);
                              sparse_dense_forward(sparse, W, bias, y, O, true);
                            }) -
                            build_rows;
  const double build_columns = per_step_us([&](std::span<const float> xb) {
                                 sparse_batch_build_rows(xb, B, I, sparse);
                                 sparse_batch_build_columns(sparse);
                               }) -
                               build_rows;
  const double sparse_grad = per_step_us([&](std::span<const float> xb) {
                               sparse_batch_build_rows(xb, B, I, sparse);
                               sparse_batch_build_columns(sparse);
                               sparse_dense_weight_grad_rows(sparse, dy, dW, O, 0, I);
                             }) -
                             build_rows - build_columns;
  const double density = static_cast<double>(nonzeros) / static_cast<double>(batches * B * I);
  std::printf("# machine: %s\n", (runtime_description() + ", " + mpi_library_version()).c_str());
  std::printf("first layer [%zu,784]x[784,%zu], %zu real MNIST batches, nonzero inputs %.1f%%\n", B,
              O, batches, 100 * density);
  std::printf("  per step (us)         dense sgemm    sparse\n");
  std::printf("  build CSR                       -  %8.1f\n", build_rows);
  std::printf("  forward                  %8.1f  %8.1f\n", dense_fwd, sparse_fwd);
  std::printf("  build CSC                       -  %8.1f\n", build_columns);
  std::printf("  weight gradient          %8.1f  %8.1f\n", dense_grad, sparse_grad);
  const double dense_total = dense_fwd + dense_grad,
               sparse_total = build_rows + sparse_fwd + build_columns + sparse_grad;
  std::printf("  total                    %8.1f  %8.1f  (%.2fx)\n", dense_total, sparse_total,
              dense_total / sparse_total);
  const double flops = 4.0 * static_cast<double>(B * I * O);
  std::printf("  dense sgemm at %.1f GFLOP/s\n", flops / dense_total / 1e3);
  if (!csv.empty()) {
    const bool fresh = !std::ifstream(csv).good();
    std::ofstream out(csv, std::ios::app);
    if (fresh) {
      out << "hidden,batch,density,dense_forward_us,dense_wgrad_us,build_rows_us,sparse_forward_us,"
             "build_columns_us,sparse_wgrad_us,dense_us,sparse_us\n";
    }
    out << O << ',' << B << ',' << density << ',' << dense_fwd << ',' << dense_grad << ','
        << build_rows << ',' << sparse_fwd << ',' << build_columns << ',' << sparse_grad << ','
        << dense_total << ',' << sparse_total << '\n';
    if (!out.good()) {
      std::fprintf(stderr, "cannot write %s\n", csv.c_str());
      return 1;
    }
  }
  return 0;
}
