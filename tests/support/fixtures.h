// Tiny data the tests make themselves: a fresh temporary directory and a
// synthetic, learnable digits file in the dpmnist HDF5 schema.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dpmnist/data/dataset.h"

namespace dpmnist::test {

// A new empty directory under $TMPDIR (or /tmp), unique per call and process.
std::string make_temp_dir(const std::string& tag);

// count digits: class c is a bright bar at a class-specific place plus seeded
// noise, so a small network can learn it quickly. Labels cycle 0..9.
Digits synthetic_digits(std::size_t count, std::uint64_t seed);

// Writes a schema-valid data file with train_count/test_count synthetic digits.
void write_synthetic_dataset(const std::string& path, std::size_t train_count,
                             std::size_t test_count, std::uint64_t seed = 7);

}  // namespace dpmnist::test
