#include "dpmnist/core/rng.h"

namespace dpmnist {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

__extension__ using Uint128 = unsigned __int128;

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

std::uint64_t derive_seed(std::initializer_list<std::uint64_t> parts) {
  std::uint64_t state = 0x6470'6d6e'6973'74ULL;
  std::uint64_t seed = 0;
  for (std::uint64_t part : parts) {
    state ^= part;
    seed = splitmix64(state);
  }
  return seed;
}

Rng::Rng(std::uint64_t seed) {
  for (auto& word : state_) word = splitmix64(seed);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

float Rng::uniform() {
  return static_cast<float>(next() >> 40) * 0x1.0p-24f;
}

std::uint64_t Rng::below(std::uint64_t n) {
  // Lemire's rejection: no modulo bias.
  const std::uint64_t threshold = (0 - n) % n;
  for (;;) {
    const Uint128 product = static_cast<Uint128>(next()) * n;
    if (static_cast<std::uint64_t>(product) >= threshold) {
      return static_cast<std::uint64_t>(product >> 64);
    }
  }
}

}  // namespace dpmnist
