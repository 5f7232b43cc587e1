// dpmnist-bench-adam: Adam::step on moments in the subnormal float range, with
// flush-to-zero / denormals-are-zero off and on, one thread. In training the
// first moment m of a pixel that is never lit keeps decaying by beta1 until it
// rounds to the smallest subnormal (0.9 * 2^-149 rounds back to 2^-149) and
// stays there; every step then computes on it. Some CPUs do that in microcode.
//   dpmnist-bench-adam [--params N] [--steps S]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "dpmnist/core/runtime.h"
#include "dpmnist/nn/adam.h"
#include "dpmnist/parallel/comm.h"

using namespace dpmnist;
using Clock = std::chrono::steady_clock;

namespace {

// Seconds per Adam step over `params` parameters whose gradients are 0 and
// whose moments start at (m, v), with denormals flushed or kept.
double seconds_per_step(std::size_t params, int steps, float m, float v, bool flush) {
  set_flush_denormals(flush);
  Adam adam(params, AdamSettings{});
  adam.restore(std::vector<float>(params, m), std::vector<float>(params, v), 100);
  std::vector<float> weights(params, 0.01f), grads(params, 0.0f);
  adam.step(weights, grads);  // warm the caches
  const auto start = Clock::now();
  for (int s = 0; s < steps; ++s) adam.step(weights, grads);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count() / steps;
  set_flush_denormals(true);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  init_runtime(argv);
  std::size_t params = 784 * 128 + 128 + 128 * 10 + 10;  // the seed model
  int steps = 300;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--params" && i + 1 < argc) {
      params = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--steps" && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else {
      std::printf(
          "usage: dpmnist-bench-adam [--params N] [--steps S]\n"
          "Times Adam::step with moments in the subnormal range, denormals kept vs\n"
          "flushed (FTZ+DAZ), and a normal-range control; prints the ratios.\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  if (params == 0 || steps <= 0) {
    std::fprintf(stderr, "error: --params and --steps must be positive\n");
    return 2;
  }
  const float tiny = std::numeric_limits<float>::denorm_min();
  struct Case {
    const char* name;
    float m, v;
  };
  const Case cases[] = {
      {"m subnormal (never-lit pixels)", tiny, 1e-30f},
      {"m and v subnormal", tiny, tiny},
      {"normal range (control)", 1e-3f, 1e-6f},
  };
  std::printf("# machine: %s\n", (runtime_description() + ", " + mpi_library_version()).c_str());
  std::printf("# Adam::step over %zu parameters, gradients 0, %d steps per figure, one thread\n",
              params, steps);
  std::printf("%-32s %14s %14s %8s %20s\n", "moments", "kept ms/step", "flushed ms/step", "ratio",
              "kept s per 1750 steps");
  for (const Case& c : cases) {
    // Interleaved, best of three, so a noisy neighbour hurts both alike.
    double kept = 1e30, flushed = 1e30;
    for (int round = 0; round < 3; ++round) {
      kept = std::min(kept, seconds_per_step(params, steps, c.m, c.v, false));
      flushed = std::min(flushed, seconds_per_step(params, steps, c.m, c.v, true));
    }
    std::printf("%-32s %14.4f %14.4f %7.2fx %20.3f\n", c.name, kept * 1e3, flushed * 1e3,
                kept / flushed, kept * 1750);
  }
  return 0;
}
