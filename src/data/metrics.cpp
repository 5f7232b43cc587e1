#include "dpmnist/data/metrics.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dpmnist/core/error.h"

namespace dpmnist {

namespace {

// One column: its name and how to read and write it on an EpochMetrics.
struct Column {
  std::string name;
  double (*get)(const EpochMetrics&);
  void (*set)(EpochMetrics&, double);
};

#define DPMNIST_COLUMN(field)                                                    \
  Column {                                                                       \
#field, [](const EpochMetrics& m) { return static_cast<double>(m.field); },    \
        [](EpochMetrics& m, double v) { m.field = static_cast<decltype(m.field)>(v); } \
  }

const std::vector<Column>& columns() {
  static const std::vector<Column> all = [] {
    std::vector<Column> c = {DPMNIST_COLUMN(epoch),
                             DPMNIST_COLUMN(train_loss),
                             DPMNIST_COLUMN(train_acc),
                             DPMNIST_COLUMN(test_loss),
                             DPMNIST_COLUMN(test_acc),
                             DPMNIST_COLUMN(epoch_seconds),
                             DPMNIST_COLUMN(data_seconds),
                             DPMNIST_COLUMN(compute_seconds),
                             DPMNIST_COLUMN(comm_seconds),
                             DPMNIST_COLUMN(eval_seconds),
                             DPMNIST_COLUMN(samples_per_second),
                             DPMNIST_COLUMN(learning_rate),
                             DPMNIST_COLUMN(world_size),
                             DPMNIST_COLUMN(val_loss),
                             DPMNIST_COLUMN(val_acc),
                             DPMNIST_COLUMN(global_batch),
                             DPMNIST_COLUMN(steps_per_epoch)};
    // Then each phase's min, median and max, read through phase_value().
    static constexpr const char* kSuffix[3] = {"_min", "_median", "_max"};
    for (std::size_t p = 0; p < kNumPhases; ++p) {
      for (std::size_t k = 0; k < 3; ++k)
        c.push_back({std::string(kPhaseNames[p]) + kSuffix[k], nullptr, nullptr});
    }
    return c;
  }();
  return all;
}

#undef DPMNIST_COLUMN

// Phase columns follow the scalar ones: index -> (phase, statistic).
double phase_value(const EpochMetrics& m, std::size_t index) {
  const Spread& s = m.phases[index / 3];
  return index % 3 == 0 ? s.min : index % 3 == 1 ? s.median : s.max;
}

void set_phase_value(EpochMetrics& m, std::size_t index, double v) {
  Spread& s = m.phases[index / 3];
  (index % 3 == 0 ? s.min : index % 3 == 1 ? s.median : s.max) = v;
}

std::size_t scalar_columns() {
  std::size_t n = 0;
  for (const Column& c : columns()) n += c.get != nullptr;
  return n;
}

}  // namespace

Spread spread_of(std::vector<double> values) {
  require(!values.empty(), "spread_of: no values");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  return {values.front(), median, values.back()};
}

const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Column& c : columns()) n.push_back(c.name);
    return n;
  }();
  return names;
}

std::vector<double> metric_values(const EpochMetrics& m) {
  std::vector<double> values;
  const std::size_t scalars = scalar_columns();
  for (std::size_t i = 0; i < columns().size(); ++i) {
    values.push_back(i < scalars ? columns()[i].get(m) : phase_value(m, i - scalars));
  }
  return values;
}

EpochMetrics metrics_from_values(const std::vector<std::string>& names,
                                 const std::vector<double>& values) {
  require(names.size() == values.size(), "metrics row has ", values.size(), " values for ",
          names.size(), " columns");
  EpochMetrics m;
  const std::size_t scalars = scalar_columns();
  const std::string old_comm = std::string(kOldCommPhaseName) + "_";
  for (std::size_t k = 0; k < names.size(); ++k) {
    const auto& known = metric_columns();
    const std::string name =
        names[k].starts_with(old_comm)
            ? std::string(kPhaseNames[kCommPhase]) + "_" + names[k].substr(old_comm.size())
            : names[k];
    const auto at = std::find(known.begin(), known.end(), name);
    if (at == known.end()) continue;
    const auto i = static_cast<std::size_t>(at - known.begin());
    if (i < scalars) {
      columns()[i].set(m, values[k]);
    } else {
      set_phase_value(m, i - scalars, values[k]);
    }
  }
  return m;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows) {
  const std::string temporary = path + ".tmp";
  try {
    std::ofstream out(temporary);
    require(out.good(), "file ", temporary, ": cannot write metrics: ", os_reason());
    const auto& columns = metric_columns();
    for (std::size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << columns[i];
    out << "\n";
    char cell[64];
    for (const EpochMetrics& row : rows) {
      const std::vector<double> values = metric_values(row);
      for (std::size_t i = 0; i < values.size(); ++i) {
        std::snprintf(cell, sizeof(cell), "%.10g", values[i]);
        out << (i ? "," : "") << cell;
      }
      out << "\n";
    }
    out.flush();
    out.close();
    require(out.good(), "file ", temporary, ": write failed: ", os_reason());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  require(!error, "file ", path, ": cannot rename ", temporary, " onto it: ", error.message());
}

}  // namespace dpmnist
