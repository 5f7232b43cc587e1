#include "dpmnist/data/mnist_pool.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "dpmnist/core/error.h"
#include "dpmnist/core/hash.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/data/idx.h"

namespace dpmnist {
namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

void append_pair(Pool& pool, const std::string& images_path, const std::string& labels_path) {
  const IdxImages images = read_idx_images(images_path);
  const std::vector<std::uint8_t> labels = read_idx_labels(labels_path);
  require(images.count == labels.size(), "files ", images_path, " (", images.count, " images) and ",
          labels_path, " (", labels.size(), " labels) disagree on the count; are they a pair?");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    require(labels[i] < kNumClasses, "file ", labels_path, ": label at index ", i, " is ",
            int{labels[i]}, ", expected 0..", kNumClasses - 1);
  }
  pool.digits.images.insert(pool.digits.images.end(), images.pixels.begin(), images.pixels.end());
  pool.digits.labels.insert(pool.digits.labels.end(), labels.begin(), labels.end());
}

std::uint64_t hash_image(const std::uint8_t* pixels) {
  return fnv1a(std::span(pixels, kImagePixels));
}

// Uniform in [0,1) with 53 random bits: keys must not tie for 56,000 rows.
double uniform_double(Rng& rng) {
  return static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
}

// Stratified shuffle of indices (see split_pool in mnist_pool.h).
void interleave_by_class(std::vector<std::size_t>& indices, const std::vector<std::uint8_t>& labels,
                         Rng& rng) {
  std::array<std::vector<std::size_t>, kNumClasses> by_class;
  for (std::size_t index : indices) by_class[labels[index]].push_back(index);
  std::vector<std::pair<double, std::size_t>> keyed;
  keyed.reserve(indices.size());
  for (auto& members : by_class) {
    shuffle(std::span<std::size_t>(members), rng);
    const auto n = static_cast<double>(members.size());
    for (std::size_t j = 0; j < members.size(); ++j) {
      keyed.emplace_back((static_cast<double>(j) + uniform_double(rng)) / n, members[j]);
    }
  }
  std::sort(keyed.begin(), keyed.end());
  for (std::size_t i = 0; i < keyed.size(); ++i) indices[i] = keyed[i].second;
}

// Test quota per class: largest-remainder apportionment of round(kept/5).
std::array<std::size_t, kNumClasses> test_quotas(const std::array<std::size_t, kNumClasses>& kept) {
  const std::size_t total = std::accumulate(kept.begin(), kept.end(), std::size_t{0});
  const std::size_t test_total = (total + kTestShareDenominator / 2) / kTestShareDenominator;
  std::array<std::size_t, kNumClasses> quota{};
  std::array<std::size_t, kNumClasses> remainder{};
  std::size_t assigned = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    quota[c] = total ? kept[c] * test_total / total : 0;
    remainder[c] = total ? kept[c] * test_total % total : 0;
    assigned += quota[c];
  }
  std::array<std::size_t, kNumClasses> order{};
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
  for (std::size_t k = 0; assigned < test_total; ++k, ++assigned) ++quota[order[k]];
  return quota;
}

// Kept members of each duplicate group, one entry per group, by class.
std::array<std::vector<std::vector<std::size_t>>, kNumClasses> units_by_class(
    const Digits& pool, const CleaningReport& cleaning) {
  std::array<std::vector<std::vector<std::size_t>>, kNumClasses> units;
  std::vector<std::size_t> unit_of(pool.size(), kNone);
  for (std::size_t i = 0; i < pool.size(); ++i) {
    if (!cleaning.keep[i]) continue;
    auto& class_units = units[pool.labels[i]];
    std::size_t& unit = unit_of[cleaning.group[i]];
    if (unit == kNone) {
      unit = class_units.size();
      class_units.emplace_back();
    }
    class_units[unit].push_back(i);
  }
  return units;
}

}  // namespace

RawFiles raw_files_in(const std::string& dir) {
  const std::string prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  return {prefix + "train-images-idx3-ubyte", prefix + "train-labels-idx1-ubyte",
          prefix + "t10k-images-idx3-ubyte", prefix + "t10k-labels-idx1-ubyte"};
}

Pool load_pool(const RawFiles& files) {
  Pool pool;
  append_pair(pool, files.train_images, files.train_labels);
  pool.official_train_count = pool.digits.size();
  append_pair(pool, files.test_images, files.test_labels);
  return pool;
}

CleaningReport clean_pool(const Pool& pool) {
  const Digits& digits = pool.digits;
  const std::size_t n = digits.size();
  require(digits.images.size() == n * kImagePixels, "clean_pool: ", digits.images.size(),
          " pixels for ", n, " labels, expected ", n * kImagePixels);
  CleaningReport report;
  report.group.resize(n);
  report.keep.assign(n, 1);
  report.fewest_ink_pixels = kImagePixels + 1;
  std::vector<std::pair<std::uint64_t, std::size_t>> hashed(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* pixels = digits.images.data() + i * kImagePixels;
    hashed[i] = {hash_image(pixels), i};
    const auto ink = static_cast<std::size_t>(
        std::count_if(pixels, pixels + kImagePixels, [](std::uint8_t p) { return p > 0; }));
    if (ink < report.fewest_ink_pixels) {
      report.fewest_ink_pixels = ink;
      report.fewest_ink_index = i;
    }
    if (ink < kBlankPixelThreshold) {
      ++report.blank_images;
      report.keep[i] = 0;
    }
  }
  std::sort(hashed.begin(), hashed.end());
  // Within one hash value, a sample joins the first earlier sample with equal
  // bytes; indices ascend there, so the group id is the smallest member.
  for (std::size_t run = 0; run < n;) {
    std::size_t end = run;
    while (end < n && hashed[end].first == hashed[run].first) ++end;
    for (std::size_t a = run; a < end; ++a) {
      const std::size_t i = hashed[a].second;
      report.group[i] = i;
      for (std::size_t b = run; b < a; ++b) {
        const std::size_t j = hashed[b].second;
        if (report.group[j] == j &&
            std::memcmp(digits.images.data() + i * kImagePixels,
                        digits.images.data() + j * kImagePixels, kImagePixels) == 0) {
          report.group[i] = j;
          break;
        }
      }
    }
    run = end;
  }
  std::vector<std::size_t> members(n, 0);
  std::vector<std::uint8_t> conflicting(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t g = report.group[i];
    ++members[g];
    if (digits.labels[i] != digits.labels[g]) conflicting[g] = 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t g = report.group[i];
    if (members[g] < 2) continue;
    ++report.duplicate_images;
    if (g == i) {
      ++report.duplicate_groups;
      report.conflicting_groups += conflicting[g];
    }
    if (conflicting[g]) {
      ++report.conflicting_images;
      report.keep[i] = 0;
    }
  }
  std::vector<std::uint8_t> origin(n, 0);  // bit 1 official train, bit 2 official test
  for (std::size_t i = 0; i < n; ++i) {
    origin[report.group[i]] |= i < pool.official_train_count ? 1 : 2;
  }
  report.cross_official_groups =
      static_cast<std::size_t>(std::count(origin.begin(), origin.end(), 3));
  report.dropped_images =
      static_cast<std::size_t>(std::count(report.keep.begin(), report.keep.end(), 0));
  return report;
}

SplitKind parse_split_kind(const std::string& name) {
  if (name == "stratified") return SplitKind::stratified;
  if (name == "official") return SplitKind::official;
  throw Error(concat("split '", name, "' is unknown; expected 'stratified' or 'official'"));
}

const char* split_kind_name(SplitKind kind) {
  return kind == SplitKind::stratified ? "stratified" : "official";
}

Split split_pool(const Pool& pool, const CleaningReport& cleaning, SplitKind kind,
                 std::uint64_t seed) {
  const Digits& digits = pool.digits;
  require(cleaning.group.size() == digits.size(), "split_pool: cleaning report covers ",
          cleaning.group.size(), " samples, pool has ", digits.size());
  Split split;
  if (kind == SplitKind::official) {
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (cleaning.keep[i]) (i < pool.official_train_count ? split.train : split.test).push_back(i);
    }
  } else {
    auto units = units_by_class(digits, cleaning);
    std::array<std::size_t, kNumClasses> kept{};
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      for (const auto& unit : units[c]) kept[c] += unit.size();
    }
    const auto quota = test_quotas(kept);
    Rng rng(derive_seed({seed, 1}));
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      shuffle(std::span<std::vector<std::size_t>>(units[c]), rng);
      // A group that would overshoot the quota goes to train whole; the many
      // singletons after it fill the quota exactly.
      std::size_t taken = 0;
      for (const auto& unit : units[c]) {
        const bool to_test = taken + unit.size() <= quota[c];
        if (to_test) taken += unit.size();
        auto& side = to_test ? split.test : split.train;
        side.insert(side.end(), unit.begin(), unit.end());
      }
    }
    std::sort(split.test.begin(), split.test.end());
  }
  Rng order_rng(derive_seed({seed, 2}));
  interleave_by_class(split.train, digits.labels, order_rng);
  return split;
}

std::size_t count_straddling_groups(const CleaningReport& cleaning, const Split& split) {
  std::vector<std::uint8_t> side(cleaning.group.size(), 0);  // bit 1 train, bit 2 test
  for (std::size_t i : split.train) side[cleaning.group[i]] |= 1;
  for (std::size_t i : split.test) side[cleaning.group[i]] |= 2;
  return static_cast<std::size_t>(std::count(side.begin(), side.end(), 3));
}

std::array<std::size_t, kNumClasses> count_classes(std::span<const std::uint8_t> labels,
                                                   std::span<const std::size_t> indices) {
  std::array<std::size_t, kNumClasses> counts{};
  for (std::size_t i : indices) ++counts[labels[i]];
  return counts;
}

SplitRows select_rows(const Digits& pool, std::span<const std::size_t> indices) {
  require(pool.size() <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
          "select_rows: pool of ", pool.size(), " rows exceeds the int32 source_index range");
  SplitRows rows;
  rows.digits.images.resize(indices.size() * kImagePixels);
  rows.digits.labels.resize(indices.size());
  rows.source_index.resize(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::size_t i = indices[k];
    std::memcpy(rows.digits.images.data() + k * kImagePixels, pool.images.data() + i * kImagePixels,
                kImagePixels);
    rows.digits.labels[k] = pool.labels[i];
    rows.source_index[k] = static_cast<std::int32_t>(i);
  }
  return rows;
}

std::map<std::string, std::int64_t> cleaning_figures(const Pool& pool,
                                                     const CleaningReport& cleaning,
                                                     const Split& split) {
  const auto as_int = [](std::size_t n) { return static_cast<std::int64_t>(n); };
  return {{"pool_size", as_int(pool.digits.size())},
          {"official_train_count", as_int(pool.official_train_count)},
          {"duplicate_groups", as_int(cleaning.duplicate_groups)},
          {"duplicate_images", as_int(cleaning.duplicate_images)},
          {"cross_official_groups", as_int(cleaning.cross_official_groups)},
          {"conflicting_groups", as_int(cleaning.conflicting_groups)},
          {"conflicting_images", as_int(cleaning.conflicting_images)},
          {"blank_pixel_threshold", as_int(kBlankPixelThreshold)},
          {"blank_images", as_int(cleaning.blank_images)},
          {"dropped_images", as_int(cleaning.dropped_images)},
          {"straddling_groups", as_int(count_straddling_groups(cleaning, split))}};
}

}  // namespace dpmnist
