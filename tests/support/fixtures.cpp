#include "support/fixtures.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "dpmnist/core/rng.h"

namespace dpmnist::test {

std::string make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TMPDIR");
  const std::filesystem::path dir =
      std::filesystem::path(base ? base : "/tmp") /
      ("dpmnist-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

Digits synthetic_digits(std::size_t count, std::uint64_t seed) {
  Digits digits;
  digits.images.assign(count * kImagePixels, 0);
  digits.labels.resize(count);
  Rng rng(seed);
  for (std::size_t i = 0; i < count; ++i) {
    const auto label = static_cast<std::uint8_t>(i % kNumClasses);
    digits.labels[i] = label;
    std::uint8_t* image = digits.images.data() + i * kImagePixels;
    // Horizontal bar for classes 0-4, vertical for 5-9, at a class-specific offset.
    const std::size_t where = 4 + 4 * (label % 5) + rng.below(2);
    for (std::size_t k = 4; k < 24; ++k) {
      const std::size_t pixel = label < 5 ? where * kImageSide + k : k * kImageSide + where;
      image[pixel] = static_cast<std::uint8_t>(160 + rng.below(96));
    }
    for (int n = 0; n < 40; ++n)
      image[rng.below(kImagePixels)] = static_cast<std::uint8_t>(rng.below(128));
  }
  return digits;
}

void write_synthetic_dataset(const std::string& path, std::size_t train_count,
                             std::size_t test_count, std::uint64_t seed) {
  SplitRows train, test;
  train.digits = synthetic_digits(train_count, seed);
  test.digits = synthetic_digits(test_count, seed + 1);
  for (std::size_t i = 0; i < train_count; ++i)
    train.source_index.push_back(static_cast<std::int32_t>(i));
  for (std::size_t i = 0; i < test_count; ++i) {
    test.source_index.push_back(static_cast<std::int32_t>(train_count + i));
  }
  DatasetAttributes attributes;
  attributes.seed = static_cast<std::int64_t>(seed);
  attributes.split = "stratified";
  write_dataset(path, train, test, attributes);
}

}  // namespace dpmnist::test
