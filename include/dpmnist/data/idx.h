// Reader and writer for the IDX files MNIST ships in (big-endian header, then
// raw unsigned bytes). Every header field and the exact file length are checked
// before use. Only ubyte images [N,28,28] and ubyte labels [N]; no gzip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dpmnist {

inline constexpr std::uint32_t kIdxImagesMagic = 0x00000803;  // ubyte, 3 dims
inline constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;  // ubyte, 1 dim

struct IdxImages {
  std::size_t count = 0;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<std::uint8_t> pixels;  // [count, rows, cols] row-major
};

// Throws Error naming path and the offending field (magic, data type, dims,
// count, file length) with the value seen and the value expected.
IdxImages read_idx_images(const std::string& path);
// labels [count]; values are not range-checked here (see load_pool).
std::vector<std::uint8_t> read_idx_labels(const std::string& path);

// For test fixtures: writes a well-formed IDX file (any rows/cols).
void write_idx_images(const std::string& path, const IdxImages& images);
void write_idx_labels(const std::string& path, std::span<const std::uint8_t> labels);

}  // namespace dpmnist
