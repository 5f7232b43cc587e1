#include "dpmnist/data/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <regex>
#include <sstream>

#include "dpmnist/core/error.h"
#include "dpmnist/core/hash.h"
#include "dpmnist/data/hdf5_file.h"
#include "dpmnist/nn/network.h"

namespace dpmnist {
namespace {

std::string layer_group(std::size_t l) {
  return "/model/dense_" + std::to_string(l);
}

std::uint64_t content_hash(const Checkpoint& c) {
  // FNV-1a over everything a resume depends on, chained buffer by buffer.
  std::vector<float> scalars;
  for (double v : c.epoch_sums) scalars.push_back(static_cast<float>(v));
  for (std::int64_t v :
       {c.adam_step, c.epoch, c.step_in_epoch, c.global_step, c.world_size, c.seed}) {
    scalars.push_back(static_cast<float>(v));
  }
  std::uint64_t hash = hash_floats(c.params);
  for (std::span<const float> part :
       {std::span<const float>(c.adam_m), std::span<const float>(c.adam_v),
        std::span<const float>(scalars)}) {
    hash = hash * kFnvPrime ^ hash_floats(part);  // one hash per buffer, chained
  }
  hash = fnv1a(c.config_text, hash);
  return fnv1a(c.trained, hash);
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::size_t param_count(const std::vector<std::size_t>& widths) {
  std::size_t count = 0;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) count += (widths[l] + 1) * widths[l + 1];
  return count;
}

void save_checkpoint(const std::string& path, const Checkpoint& c,
                     const std::function<void()>& before_rename) {
  const std::size_t count = param_count(c.widths);
  require(c.params.size() == count && c.adam_m.size() == count && c.adam_v.size() == count,
          "save_checkpoint ", path, ": ", c.params.size(), " params, ", c.adam_m.size(), " and ",
          c.adam_v.size(), " moments for a network of ", count);
  const std::string temporary = path + ".tmp";
  // A failed write (a full disk) leaves no partial file behind; a crash can
  // leave the .tmp, which no reader takes for a checkpoint.
  try {
    H5File file = H5File::create(temporary);
    std::span<const float> params(c.params);
    std::size_t offset = 0;
    for (std::size_t l = 0; l + 1 < c.widths.size(); ++l) {
      const std::size_t in = c.widths[l], out = c.widths[l + 1];
      file.write(layer_group(l) + "/kernel", params.subspan(offset, in * out), {in, out});
      offset += in * out;
      file.write(layer_group(l) + "/bias", params.subspan(offset, out), {out});
      offset += out;
    }
    file.write_attr("/model", "activation", std::string("relu"));
    file.write_attr("/model", "output", std::string("logits"));
    file.write_attr("/model", "layers", static_cast<std::int64_t>(c.widths.size() - 1));
    file.write<float>("/optimizer/m", c.adam_m, {count});
    file.write<float>("/optimizer/v", c.adam_v, {count});
    file.write_attr("/optimizer", "step", c.adam_step);
    file.write_attr("/optimizer", "algorithm", std::string("adam"));

    std::vector<double> history;
    for (const EpochMetrics& row : c.history) {
      const std::vector<double> values = metric_values(row);
      history.insert(history.end(), values.begin(), values.end());
    }
    file.write<double>("/metrics/history", history, {c.history.size(), metric_columns().size()});
    std::string columns;
    for (const std::string& name : metric_columns()) columns += (columns.empty() ? "" : ",") + name;
    file.write_attr("/metrics/history", "columns", columns);

    file.write_attr("/", "format_version", kCheckpointFormatVersion);
    file.write_attr("/", "epoch", c.epoch);
    file.write_attr("/", "global_step", c.global_step);
    file.write_attr("/", "step_in_epoch", c.step_in_epoch);
    file.write<double>("/progress/epoch_sums", c.epoch_sums, {c.epoch_sums.size()});
    if (!c.trained.empty()) {
      file.write<std::uint8_t>("/progress/trained", c.trained, {c.trained.size()});
    }
    file.write_attr("/", "world_size", c.world_size);
    file.write_attr("/", "seed", c.seed);
    file.write_attr("/", "config", c.config_text);
    file.write_attr("/", "content_hash", static_cast<std::int64_t>(content_hash(c)));
    file.flush();
    file.close();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  fsync_path(temporary, O_RDONLY);
  if (before_rename) before_rename();
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  require(!error, "checkpoint ", temporary, ": rename to ", path, " failed: ", error.message());
  const std::string directory = std::filesystem::path(path).parent_path().string();
  fsync_path(directory.empty() ? "." : directory, O_RDONLY | O_DIRECTORY);
}

Checkpoint load_checkpoint(const std::string& path) {
  H5File file = H5File::open_read(path);
  require(file.has_attr("/", "format_version"), "checkpoint ", path,
          ": no format_version attribute; not a dpmnist checkpoint");
  const std::int64_t version = file.read_attr_int("/", "format_version");
  require(version >= kOldestCheckpointFormatVersion && version <= kCheckpointFormatVersion,
          "checkpoint ", path, ": format_version ", version, ", this build reads ",
          kOldestCheckpointFormatVersion, " to ", kCheckpointFormatVersion,
          version > kCheckpointFormatVersion ? " (written by a newer dpmnist)" : "");
  Checkpoint c;
  c.format_version = version;
  const std::int64_t layers = file.read_attr_int("/model", "layers");
  require(layers >= 1 && layers < 64, "checkpoint ", path, ": /model@layers = ", layers);
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string group = layer_group(static_cast<std::size_t>(l));
    const Shape kernel = file.shape(group + "/kernel");
    require(kernel.size() == 2, "checkpoint ", path, ": ", group, "/kernel is not 2-D");
    if (l == 0) c.widths.push_back(kernel[0]);
    require(kernel[0] == c.widths.back(), "checkpoint ", path, ": ", group, "/kernel has ",
            kernel[0], " inputs, the previous layer gives ", c.widths.back());
    c.widths.push_back(kernel[1]);
    const std::vector<float> w = file.read<float>(group + "/kernel", kernel);
    const std::vector<float> b = file.read<float>(group + "/bias", {kernel[1]});
    c.params.insert(c.params.end(), w.begin(), w.end());
    c.params.insert(c.params.end(), b.begin(), b.end());
  }
  const std::size_t count = c.params.size();
  c.adam_m = file.read<float>("/optimizer/m", {count});
  c.adam_v = file.read<float>("/optimizer/v", {count});
  c.adam_step = file.read_attr_int("/optimizer", "step");
  c.epoch = file.read_attr_int("/", "epoch");
  c.global_step = file.read_attr_int("/", "global_step");
  c.step_in_epoch = file.read_attr_int("/", "step_in_epoch");
  const std::vector<double> sums = file.read<double>("/progress/epoch_sums", {c.epoch_sums.size()});
  std::copy(sums.begin(), sums.end(), c.epoch_sums.begin());
  if (file.exists("/progress/trained")) {
    const Shape shape = file.shape("/progress/trained");
    require(shape.size() == 1, "checkpoint ", path, ": /progress/trained is not 1-D");
    c.trained = file.read<std::uint8_t>("/progress/trained", shape);
  }
  c.world_size = file.read_attr_int("/", "world_size");
  c.seed = file.read_attr_int("/", "seed");
  c.config_text = file.read_attr_string("/", "config");
  const Shape history_shape = file.shape("/metrics/history");
  std::vector<std::string> columns;
  {
    std::stringstream names(file.read_attr_string("/metrics/history", "columns"));
    for (std::string name; std::getline(names, name, ',');) columns.push_back(name);
  }
  require(history_shape.size() == 2 && history_shape[1] == columns.size(), "checkpoint ", path,
          ": /metrics/history has ", history_shape.size() == 2 ? history_shape[1] : 0,
          " columns but its @columns names ", columns.size());
  const std::vector<double> history = file.read<double>("/metrics/history", history_shape);
  for (std::size_t r = 0; r < history_shape[0]; ++r) {
    const auto row = history.begin() + static_cast<std::ptrdiff_t>(r * columns.size());
    c.history.push_back(metrics_from_values(
        columns, std::vector<double>(row, row + static_cast<std::ptrdiff_t>(columns.size()))));
  }
  const auto stored = static_cast<std::uint64_t>(file.read_attr_int("/", "content_hash"));
  const std::uint64_t actual = content_hash(c);
  require(stored == actual, "checkpoint ", path, ": content checksum ", actual,
          " does not match the stored ", stored, "; the file is corrupted");
  return c;
}

namespace {

// Numbered checkpoints in dir, newest (highest step) first.
std::vector<std::pair<std::int64_t, std::string>> numbered_checkpoints(const std::string& dir) {
  static const std::regex pattern(R"(checkpoint-(\d+)\.h5)");
  std::vector<std::pair<std::int64_t, std::string>> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, pattern)) {
      found.emplace_back(std::stoll(match[1].str()), entry.path().string());
    }
  }
  std::sort(found.begin(), found.end(), std::greater<>());
  return found;
}

}  // namespace

std::string save_run_checkpoint(const std::string& dir, const Checkpoint& checkpoint,
                                std::size_t keep, const std::function<void()>& before_rename) {
  char name[64];
  std::snprintf(name, sizeof(name), "checkpoint-%010lld.h5",
                static_cast<long long>(checkpoint.global_step));
  const std::string numbered = dir + "/" + name;
  save_checkpoint(numbered, checkpoint, before_rename);
  // Link, then rename over the old link: checkpoint.h5 is always a whole file.
  const std::string link = dir + "/checkpoint.h5";
  std::error_code error;
  std::filesystem::remove(link + ".tmp", error);
  std::filesystem::create_hard_link(numbered, link + ".tmp", error);
  if (error) std::filesystem::copy_file(numbered, link + ".tmp", error);
  require(!error, "checkpoint ", link, ": cannot link or copy ", numbered, ": ", error.message());
  std::filesystem::rename(link + ".tmp", link);
  const auto all = numbered_checkpoints(dir);
  for (std::size_t i = std::max<std::size_t>(keep, 1); i < all.size(); ++i) {
    std::filesystem::remove(all[i].second, error);
  }
  return numbered;
}

std::vector<std::string> run_checkpoint_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& [step, path] : numbered_checkpoints(dir)) files.push_back(path);
  // checkpoint.h5 is usually a hard link to the newest numbered file: once.
  const std::string newest = dir + "/checkpoint.h5";
  std::error_code error;
  if (std::filesystem::is_regular_file(newest, error) &&
      std::ranges::none_of(files, [&](const std::string& file) {
        return std::filesystem::equivalent(file, newest, error);
      })) {
    files.push_back(newest);
  }
  return files;
}

std::string set_aside_run_checkpoints(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& [step, path] : numbered_checkpoints(dir)) files.push_back(path);
  if (std::filesystem::exists(dir + "/checkpoint.h5")) files.push_back(dir + "/checkpoint.h5");
  if (files.empty()) return "";
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string aside = dir + "/earlier-" + stamp;
  for (int n = 2; std::filesystem::exists(aside); ++n)
    aside = concat(dir, "/earlier-", stamp, "-", n);
  std::error_code error;
  std::filesystem::create_directory(aside, error);
  require(!error, "run directory ", dir, ": cannot create ", aside, ": ", error.message());
  for (const std::string& file : files) {
    const std::string to = aside + "/" + std::filesystem::path(file).filename().string();
    std::filesystem::rename(file, to, error);
    require(!error, "run directory ", dir, ": cannot move ", file, " to ", to, ": ",
            error.message());
  }
  return aside;
}

std::optional<FoundCheckpoint> find_newest_checkpoint(const std::string& dir, std::ostream& log) {
  for (const std::string& path : run_checkpoint_files(dir)) {
    try {
      return FoundCheckpoint{path, load_checkpoint(path)};
    } catch (const Error& e) {
      log << "warning: skipping unusable checkpoint: " << e.what() << "\n";
    }
  }
  return std::nullopt;
}

}  // namespace dpmnist
