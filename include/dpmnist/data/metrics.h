// Per-epoch training metrics: the rows of runs/NAME/metrics.csv and of the
// checkpoint's /metrics group. Plain data plus the CSV writer; no timing logic.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dpmnist {

// The phases timed on every rank: the step's data gather, forward (with the
// loss), backward, comm (the gradient sum, whichever GradientSum runs it,
// including the wait for the slowest rank), optimizer; then the epoch's
// evaluation. Files before the rename call comm "allreduce": readers take both.
enum Phase : std::size_t {
  kDataPhase,
  kForwardPhase,
  kBackwardPhase,
  kCommPhase,
  kOptimizerPhase,
  kEvalPhase
};
inline constexpr std::size_t kNumPhases = 6;
inline constexpr std::array<const char*, kNumPhases> kPhaseNames = {"data", "forward",   "backward",
                                                                    "comm", "optimizer", "eval"};
// The comm phase's name in files written before the rename.
inline constexpr const char* kOldCommPhaseName = "allreduce";

// A phase's seconds per epoch over the ranks: stragglers show as max >> median.
struct Spread {
  double min = 0, median = 0, max = 0;
};
// values: one per rank (copied, then partially sorted).
Spread spread_of(std::vector<double> values);

struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0;
  double epoch_seconds = 0;    // wall time of the training steps (max over ranks)
  double data_seconds = 0;     // batch gather and pixel/255 conversion (max over ranks)
  double compute_seconds = 0;  // forward + backward + optimizer (max over ranks)
  double comm_seconds = 0;     // gradient sum, including waiting for stragglers (max)
  double eval_seconds = 0;     // test-set evaluation
  double samples_per_second = 0;
  double learning_rate = 0;  // at the epoch's last step
  std::int64_t world_size = 0;
  double val_loss = 0, val_acc = 0;  // on train.validation_size held-out digits (NaN: none)
  std::int64_t global_batch = 0, steps_per_epoch = 0;
  std::array<Spread, kNumPhases> phases{};  // columns <phase>_min, _median, _max
};

// Column names in file order; metric_values(m) gives the same order.
const std::vector<std::string>& metric_columns();
std::vector<double> metric_values(const EpochMetrics& m);
// values [columns.size()] named by columns, in any order; names this build
// does not know are skipped and missing ones stay default, so histories
// written with fewer or more columns still load (allreduce_* is read as comm_*).
EpochMetrics metrics_from_values(const std::vector<std::string>& columns,
                                 const std::vector<double>& values);

// Writes every row to path atomically (temporary file, then rename).
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows);

}  // namespace dpmnist
