// MNIST's shape and an in-memory set of digits: what every part of dpmnist
// shares, from the data file to the predictor. No I/O here (dataset.h reads
// and writes the HDF5 file), so serving code does not pull in HDF5 or MPI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dpmnist {

inline constexpr std::size_t kImageSide = 28;
inline constexpr std::size_t kImagePixels = kImageSide * kImageSide;  // 784
inline constexpr std::size_t kNumClasses = 10;

struct Digits {
  std::vector<std::uint8_t> images;  // [size(),28,28] row-major
  std::vector<std::uint8_t> labels;  // [size()]
  std::size_t size() const { return labels.size(); }
};

}  // namespace dpmnist
