// Checkpoint files (HDF5): model weights in Keras's layout, Adam state, run
// position, configuration and metrics history. Writes are atomic (temporary
// file, fsync, rename); loads validate version, shapes and a content checksum.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "dpmnist/data/metrics.h"

namespace dpmnist {

// 2 added /progress/trained; version 1 files are still read (their progress
// is the step alone, see rows_trained_by_step in epoch_plan.h).
inline constexpr std::int64_t kCheckpointFormatVersion = 2;
inline constexpr std::int64_t kOldestCheckpointFormatVersion = 1;

struct Checkpoint {
  std::vector<std::size_t> widths;    // {input, hidden..., classes}
  std::vector<float> params;          // flat: per layer kernel [in,out] then bias [out]
  std::vector<float> adam_m, adam_v;  // same layout as params
  std::int64_t adam_step = 0;
  std::int64_t epoch = 0;              // epochs completed
  std::int64_t step_in_epoch = 0;      // steps of epoch + 1 already taken (a stop mid-epoch)
  std::array<double, 3> epoch_sums{};  // loss sum, correct, samples of those steps, all ranks
  std::vector<std::uint8_t> trained;   // [training rows] 1 = trained in those steps; empty
                                       // at an epoch's end (and in format_version 1 files)
  std::int64_t format_version = kCheckpointFormatVersion;  // of the file it was loaded from
  std::int64_t global_step = 0;
  std::int64_t world_size = 0;
  std::int64_t seed = 0;
  std::string config_text;
  std::vector<EpochMetrics> history;
};

// Writes path atomically: a crash mid-write leaves any previous file intact.
// before_rename runs after the temporary file is complete and synced (tests
// use it to crash at the worst moment).
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint,
                     const std::function<void()>& before_rename = {});

// In a run directory: writes dir/checkpoint-<global_step>.h5 atomically, points
// the hard link dir/checkpoint.h5 at it, and deletes all but the newest `keep`
// numbered files. Returns the numbered path.
std::string save_run_checkpoint(const std::string& dir, const Checkpoint& checkpoint,
                                std::size_t keep, const std::function<void()>& before_rename = {});

// The checkpoint files of a run directory, in the order --resume auto tries
// them: every dir/checkpoint-<step>.h5, newest first, then dir/checkpoint.h5
// (a copy of the newest, or a file put there by hand).
std::vector<std::string> run_checkpoint_files(const std::string& dir);

// Moves dir/checkpoint.h5 and every dir/checkpoint-<step>.h5 into a new
// dir/earlier-<date-time>/ (a fresh run must not leave an older run's files
// for --resume auto to pick, and must not destroy them either). Returns that
// folder, or "" when there was nothing to move.
std::string set_aside_run_checkpoints(const std::string& dir);

struct FoundCheckpoint {
  std::string path;
  Checkpoint checkpoint;
};
// The first of run_checkpoint_files(dir) that loads and validates; files that
// fail are reported on log with the reason and skipped (never removed).
// nullopt when none is usable.
std::optional<FoundCheckpoint> find_newest_checkpoint(const std::string& dir, std::ostream& log);

// Reads and validates path; throws Error naming the file and what is wrong.
Checkpoint load_checkpoint(const std::string& path);

// Parameter count of a network with these widths.
std::size_t param_count(const std::vector<std::size_t>& widths);

}  // namespace dpmnist
