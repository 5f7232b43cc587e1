// dpmnist-bench-sgemm: single-threaded sgemm through blas.h's gemm on the exact
// shapes, transposes and betas one training step of a 784-hidden...-10 network
// runs (as dense.cpp calls them), per batch size: GFLOP/s per shape and the
// step's sgemm time. It times sgemm only: no bias, ReLU, softmax or Adam.
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "dpmnist/core/blas.h"
#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/train/config.h"

namespace po = boost::program_options;
using namespace dpmnist;

namespace {

constexpr std::size_t kInputs = 784, kClasses = 10, kTrainSamples = 56000;

// One gemm call of a step: C [M,N] = op(A) [M,K] * op(B) [K,N] (+ beta * C).
struct Shape {
  std::string name, text;  // "fwd0", "[32,784]x[784,128]"
  std::string phase;       // forward or backward
  Transpose trans_a = Transpose::kNo, trans_b = Transpose::kNo;
  std::size_t M = 0, N = 0, K = 0;
  float beta = 0;
  double flops() const {
    return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  }
};

struct Timing {
  Shape shape;
  std::size_t calls = 0;
  double median_us = 0, best_us = 0;
};

std::string dims(std::size_t rows, std::size_t cols) {
  return concat("[", rows, ",", cols, "]");
}

// The calls of one step in execution order. Layer l maps in -> out with
// x [B,in], W [in,out], dy [B,out]: forward y = x W (beta 1: y holds the
// bias); backward dW += x^T dy (beta 1, dW stored [in,out]) and dx = dy W^T
// (beta 0), which the first layer skips.
std::vector<Shape> step_shapes(std::size_t B, const std::vector<std::size_t>& hidden) {
  std::vector<std::size_t> widths = {kInputs};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(kClasses);
  std::vector<Shape> shapes;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    const std::size_t in = widths[l], out = widths[l + 1];
    shapes.push_back({concat("fwd", l), dims(B, in) + "x" + dims(in, out), "forward",
                      Transpose::kNo, Transpose::kNo, B, out, in, 1.0f});
  }
  for (std::size_t l = widths.size() - 1; l-- > 0;) {
    const std::size_t in = widths[l], out = widths[l + 1];
    shapes.push_back({concat("wgrad", l), dims(in, B) + "x" + dims(B, out), "backward",
                      Transpose::kYes, Transpose::kNo, in, out, B, 1.0f});
    if (l > 0) {
      shapes.push_back({concat("igrad", l), dims(B, out) + "x" + dims(out, in), "backward",
                        Transpose::kNo, Transpose::kYes, B, in, out, 0.0f});
    }
  }
  return shapes;
}

void fill(std::vector<float>& values, std::uint32_t seed) {
  for (float& v : values) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<float>(seed >> 8) / 16777216.0f - 0.5f;
  }
}

// Median and best of `repeats` blocks, each of enough calls to last about
// block_seconds, so one noisy block on a shared machine does not set the figure.
Timing time_shape(const Shape& s, double block_seconds, std::size_t repeats) {
  std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N, 0.0f);
  fill(A, 1);
  fill(B, 2);
  const auto call = [&] { gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, A, B, s.beta, C); };
  // C accumulates when beta is 1: scale it back now and then so it stays finite.
  const auto reset_c = [&] { std::fill(C.begin(), C.end(), 0.0f); };
  for (int i = 0; i < 3; ++i) call();
  std::size_t calls = 1;
  for (;;) {
    reset_c();
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < calls; ++i) call();
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (t >= block_seconds / 4 || calls >= (std::size_t{1} << 24)) {
      calls = std::max<std::size_t>(
          1, static_cast<std::size_t>(static_cast<double>(calls) * block_seconds / t));
      break;
    }
    calls *= 4;
  }
  std::vector<double> per_call(repeats);
  for (double& us : per_call) {
    reset_c();
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < calls; ++i) call();
    us = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() * 1e6 /
         static_cast<double>(calls);
  }
  std::sort(per_call.begin(), per_call.end());
  return {s, calls, per_call[per_call.size() / 2], per_call.front()};
}

std::string model_name(const std::vector<std::size_t>& hidden) {
  std::string name = "784";
  for (std::size_t h : hidden) name += concat("-", h);
  return name + "-10";
}

}  // namespace

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  try {
    std::vector<std::string> hidden_list;
    std::vector<std::size_t> batches;
    std::string csv;
    double block_seconds = 0.05;
    std::size_t repeats = 5;
    int threads = 1;
    po::options_description options(
        "dpmnist-bench-sgemm options (every gemm of one training step, per batch size)");
    options.add_options()("help,h", "print this help")(
        "hidden", po::value(&hidden_list)->composing(),
        "hidden widths of a model, comma-separated; repeat for several models (default 128)")(
        "batch", po::value(&batches)->multitoken(), "batch sizes (default 32 64 128 256)")(
        "threads", po::value(&threads)->default_value(threads), "OpenBLAS threads")(
        "block-seconds", po::value(&block_seconds)->default_value(block_seconds),
        "length of one timed block of calls")(
        "repeats", po::value(&repeats)->default_value(repeats), "timed blocks per shape")(
        "csv", po::value(&csv), "also write one row per shape to this CSV file");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << options << '\n';
      return 0;
    }
    if (hidden_list.empty()) hidden_list = {"128"};
    if (batches.empty()) batches = {32, 64, 128, 256};
    require(repeats >= 1 && block_seconds > 0, "--repeats must be >= 1 and --block-seconds > 0");
    blas_set_threads(threads);

    std::ofstream out;
    if (!csv.empty()) {
      out.open(csv);
      require(out.good(), "cannot write --csv file ", csv);
      out << "model,batch,threads,shape,phase,dims,M,N,K,flops,calls,median_us,best_us,"
             "gflops_median,gflops_best\n";
    }
    std::printf(
        "# dpmnist-bench-sgemm: cblas_sgemm through dpmnist::gemm, %d OpenBLAS thread(s);"
        " median (best) of %zu blocks of ~%.2f s\n# machine: %s\n",
        threads, repeats, block_seconds,
        (runtime_description() + ", " + mpi_library_version()).c_str());
    for (const std::string& hidden_text : hidden_list) {
      const std::vector<std::size_t> hidden = parse_widths(hidden_text);
      const std::string model = model_name(hidden);
      for (std::size_t B : batches) {
        require(B > 0, "--batch sizes must be positive");
        std::printf("\nmodel %s, batch %zu\n%-8s %-22s %10s %10s %10s %10s\n", model.c_str(), B,
                    "shape", "dims", "MFLOP", "us/call", "GFLOP/s", "best");
        double step_us = 0, step_flops = 0, forward_us = 0;
        for (const Shape& shape : step_shapes(B, hidden)) {
          const Timing t = time_shape(shape, block_seconds, repeats);
          const double gflops = shape.flops() / (t.median_us * 1e3);
          const double gflops_best = shape.flops() / (t.best_us * 1e3);
          std::printf("%-8s %-22s %10.3f %10.2f %10.1f %10.1f\n", shape.name.c_str(),
                      shape.text.c_str(), shape.flops() / 1e6, t.median_us, gflops, gflops_best);
          step_us += t.median_us;
          step_flops += shape.flops();
          if (shape.phase == "forward") forward_us += t.median_us;
          if (out.is_open()) {
            out << model << ',' << B << ',' << threads << ',' << shape.name << ',' << shape.phase
                << ",\"" << shape.text << "\"," << shape.M << ',' << shape.N << ',' << shape.K
                << ',' << shape.flops() << ',' << t.calls << ',' << t.median_us << ',' << t.best_us
                << ',' << gflops << ',' << gflops_best << '\n';
          }
        }
        const double steps = static_cast<double>((kTrainSamples + B - 1) / B);
        std::printf("step     %-22s %10.3f %10.2f %10.1f            (forward %.2f us)\n",
                    "all of the above", step_flops / 1e6, step_us, step_flops / (step_us * 1e3),
                    forward_us);
        std::printf(
            "epoch of %zu samples at batch %zu: %.0f steps, %.1f GFLOP, %.3f s of sgemm "
            "on one rank\n",
            kTrainSamples, B, steps, steps * step_flops / 1e9, steps * step_us * 1e-6);
      }
    }
    if (out.is_open()) {
      out.flush();
      require(out.good(), "write to --csv file ", csv, " failed");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
