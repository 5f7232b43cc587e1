// 64-bit FNV-1a, the one non-cryptographic hash in dpmnist: cheap bitwise
// agreement checks between ranks, image identity in the data pool, and
// content checksums that catch corrupted files. Not for security (sha256.h).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace dpmnist {

inline constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
inline constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

// FNV-1a of bytes, continuing from hash (the offset basis starts a new one).
std::uint64_t fnv1a(std::span<const std::uint8_t> bytes, std::uint64_t hash = kFnvOffsetBasis);
std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = kFnvOffsetBasis);

// FNV-1a of the bytes of values (the weights hash that logs and tests print).
std::uint64_t hash_floats(std::span<const float> values);

}  // namespace dpmnist
