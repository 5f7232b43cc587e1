// Deterministic random numbers that are identical on every platform and rank:
// xoshiro256** seeded through SplitMix64. std:: distributions are not used
// because their output differs between standard libraries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>

namespace dpmnist {

// One 64-bit seed from several integers, e.g. derive_seed({seed, epoch, rank}).
std::uint64_t derive_seed(std::initializer_list<std::uint64_t> parts);

class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  // Uniform in [0, 1) with 24 random bits.
  float uniform();
  // Uniform in [low, high).
  float uniform(float low, float high) { return low + (high - low) * uniform(); }
  // Uniform integer in [0, n), unbiased; n > 0.
  std::uint64_t below(std::uint64_t n);

 private:
  std::uint64_t state_[4];
};

// Fisher-Yates shuffle of values in place.
template <class T>
void shuffle(std::span<T> values, Rng& rng) {
  for (std::size_t i = values.size(); i > 1; --i) {
    std::swap(values[i - 1], values[static_cast<std::size_t>(rng.below(i))]);
  }
}

}  // namespace dpmnist
