#include "dpmnist/core/hash.h"

namespace dpmnist {

std::uint64_t fnv1a(std::span<const std::uint8_t> bytes, std::uint64_t hash) {
  for (std::uint8_t byte : bytes) hash = (hash ^ byte) * kFnvPrime;
  return hash;
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t hash) {
  return fnv1a({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, hash);
}

std::uint64_t hash_floats(std::span<const float> values) {
  return fnv1a({reinterpret_cast<const std::uint8_t*>(values.data()), values.size_bytes()});
}

}  // namespace dpmnist
