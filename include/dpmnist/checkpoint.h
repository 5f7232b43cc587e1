// Checkpoint files (HDF5): model weights in Keras's layout, Adam state, run
// position, configuration and metrics history. Writes are atomic (temporary
// file, fsync, rename); loads validate version, shapes and a content checksum.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dpmnist/metrics.h"

namespace dpmnist {

inline constexpr std::int64_t kCheckpointFormatVersion = 1;

struct Checkpoint {
  std::vector<std::size_t> widths;  // {input, hidden..., classes}
  std::vector<float> params;        // flat: per layer kernel [in,out] then bias [out]
  std::vector<float> adam_m, adam_v;  // same layout as params
  std::int64_t adam_step = 0;
  std::int64_t epoch = 0;  // epochs completed
  std::int64_t global_step = 0;
  std::int64_t world_size = 0;
  std::int64_t seed = 0;
  std::string config_text;
  std::vector<EpochMetrics> history;
};

// Writes path atomically: a crash mid-write leaves any previous file intact.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and validates path; throws Error naming the file and what is wrong.
Checkpoint load_checkpoint(const std::string& path);

// Parameter count of a network with these widths.
std::size_t param_count(const std::vector<std::size_t>& widths);

}  // namespace dpmnist
