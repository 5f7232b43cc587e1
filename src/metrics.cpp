#include "dpmnist/metrics.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dpmnist/error.h"

namespace dpmnist {

namespace {

constexpr std::size_t kScalarColumns = 13;

}  // namespace

Spread spread_of(std::vector<double> values) {
  require(!values.empty(), "spread_of: no values");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  return {values.front(), median, values.back()};
}

const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> columns = [] {
    std::vector<std::string> c = {
        "epoch",        "train_loss",   "train_acc",          "test_loss",     "test_acc",
        "epoch_seconds", "data_seconds", "compute_seconds",   "comm_seconds",  "eval_seconds",
        "samples_per_second", "learning_rate", "world_size"};
    for (const char* phase : kPhaseNames) {
      for (const char* stat : {"_min", "_median", "_max"}) c.push_back(std::string(phase) + stat);
    }
    return c;
  }();
  return columns;
}

std::vector<double> metric_values(const EpochMetrics& m) {
  std::vector<double> values = {
      static_cast<double>(m.epoch), m.train_loss,    m.train_acc,    m.test_loss,
      m.test_acc,                   m.epoch_seconds, m.data_seconds, m.compute_seconds,
      m.comm_seconds,               m.eval_seconds,  m.samples_per_second,
      m.learning_rate,              static_cast<double>(m.world_size)};
  for (const Spread& s : m.phases) values.insert(values.end(), {s.min, s.median, s.max});
  return values;
}

EpochMetrics metrics_from_values(const std::vector<double>& v) {
  require(v.size() == metric_columns().size(), "metrics row has ", v.size(), " values, expected ",
          metric_columns().size());
  EpochMetrics m;
  m.epoch = static_cast<std::int64_t>(v[0]);
  m.train_loss = v[1];
  m.train_acc = v[2];
  m.test_loss = v[3];
  m.test_acc = v[4];
  m.epoch_seconds = v[5];
  m.data_seconds = v[6];
  m.compute_seconds = v[7];
  m.comm_seconds = v[8];
  m.eval_seconds = v[9];
  m.samples_per_second = v[10];
  m.learning_rate = v[11];
  m.world_size = static_cast<std::int64_t>(v[12]);
  for (std::size_t p = 0; p < kNumPhases; ++p) {
    const std::size_t at = kScalarColumns + 3 * p;
    m.phases[p] = {v[at], v[at + 1], v[at + 2]};
  }
  return m;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    require(out.good(), "file ", temporary, ": cannot write metrics");
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
    require(out.good(), "file ", temporary, ": write failed (disk full?)");
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace dpmnist
