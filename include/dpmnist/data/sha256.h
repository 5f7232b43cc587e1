// SHA-256 (FIPS 180-4), used to record which raw files a dataset was built from
// and a content hash of the written digits. Streaming, portable, not fast:
// about 0.3 s for all of MNIST. Not for anything security-sensitive.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace dpmnist {

class Sha256 {
 public:
  Sha256();
  // Feeds bytes; may be called any number of times before finish().
  void update(std::span<const std::uint8_t> bytes);
  // The digest as 64 lowercase hex characters; the object is spent afterwards.
  std::string finish_hex();

 private:
  void compress(const std::uint8_t* block);
  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_used_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// Digest of bytes, lowercase hex.
std::string sha256_hex(std::span<const std::uint8_t> bytes);
// Digest of a whole file, lowercase hex; throws Error naming the file if unreadable.
std::string sha256_file_hex(const std::string& path);

}  // namespace dpmnist
