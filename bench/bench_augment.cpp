// dpmnist-bench-augment: cost of on-the-fly augmentation per image, against
// the plain pixel/255 gather, on synthetic digits, one thread.
//   dpmnist-bench-augment [--images N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dpmnist/core/rng.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/data/augment.h"
#include "dpmnist/data/batch.h"
#include "dpmnist/parallel/comm.h"

using namespace dpmnist;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  std::size_t images = 200000;
  if (argc == 3 && std::strcmp(argv[1], "--images") == 0)
    images = std::strtoul(argv[2], nullptr, 10);
  std::vector<std::uint8_t> digit(784);
  Rng fill(1);
  for (auto& p : digit) p = static_cast<std::uint8_t>(fill.below(4) == 0 ? fill.below(256) : 0);
  std::vector<float> out(784);
  auto time_per_image = [&](auto&& one) {
    const auto start = Clock::now();
    for (std::size_t i = 0; i < images; ++i) one();
    return std::chrono::duration<double>(Clock::now() - start).count() /
           static_cast<double>(images) * 1e6;
  };
  volatile float sink = 0;
  const double plain = time_per_image([&] {
    pixels_to_input(digit, out);
    sink = sink + out[400];
  });
  struct Case {
    const char* name;
    AugmentSettings settings;
  };
  AugmentSettings affine;
  affine.rotate_degrees = 10;
  affine.scale = 0.1f;
  affine.shear_degrees = 10;
  affine.translate = 2;
  AugmentSettings elastic = affine;
  elastic.elastic_alpha = 2;
  std::printf("# machine: %s\n",
              (dpmnist::runtime_description() + ", " + dpmnist::mpi_library_version()).c_str());
  std::printf("per image (one thread, %zu images):\n  %-22s %7.3f us\n", images, "pixel/255 only",
              plain);
  for (const Case& c : {Case{"affine", affine}, Case{"affine + elastic", elastic}}) {
    Rng rng(2);
    const double us = time_per_image([&] {
      augment_digit(digit, out, c.settings, rng);
      sink = sink + out[400];
    });
    std::printf("  %-22s %7.3f us  (%.1fx the plain gather; %.2f s per 56,000-digit epoch)\n",
                c.name, us, us / plain, us * 56000e-6);
  }
  return 0;
}
