// The official MNIST digits pooled into one array, the cleaning report
// (exact duplicates, conflicting labels, near-blank images) and the seeded
// train/test split that dpmnist-prepare writes. Reads raw IDX; writes nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "dpmnist/data/dataset.h"

namespace dpmnist {

// An image with fewer nonzero pixels than this is near-blank and dropped.
// Real MNIST's sparsest image (a "1") has 34, so none is dropped there.
inline constexpr std::size_t kBlankPixelThreshold = 30;
// Stratified split: round(kept / 5) test images, 1/5 of each class (80/20).
inline constexpr std::size_t kTestShareDenominator = 5;
inline constexpr std::uint64_t kDefaultSplitSeed = 20260611;

struct RawFiles {
  std::string train_images, train_labels, test_images, test_labels;
};
// The canonical MNIST file names inside dir.
RawFiles raw_files_in(const std::string& dir);

struct Pool {
  Digits digits;  // [size] official train rows first, then official test rows
  std::size_t official_train_count = 0;  // rows [0, this) came from the train files
};

// Reads and validates the four IDX files: image and label counts must agree
// per pair and labels must be 0..9 (Error names the file, index and value).
Pool load_pool(const RawFiles& files);

struct CleaningReport {
  // [pool size] smallest pooled index of the sample's exact-duplicate group
  // (the sample itself when its 784 bytes are unique).
  std::vector<std::size_t> group;
  std::vector<std::uint8_t> keep;         // [pool size] 1 = kept, 0 = dropped
  std::size_t duplicate_groups = 0;       // groups of >= 2 byte-identical images
  std::size_t duplicate_images = 0;       // members of those groups
  std::size_t cross_official_groups = 0;  // groups in both official train and test
  std::size_t conflicting_groups = 0;     // groups whose labels disagree: all dropped
  std::size_t conflicting_images = 0;
  std::size_t blank_images = 0;       // < kBlankPixelThreshold nonzero pixels: dropped
  std::size_t dropped_images = 0;     // union of the two drop reasons
  std::size_t fewest_ink_pixels = 0;  // sparsest image's nonzero-pixel count
  std::size_t fewest_ink_index = 0;   // and its pooled index
  std::size_t kept() const { return group.size() - dropped_images; }
};

// Duplicates: hash the 784 bytes, then confirm byte equality within a hash.
CleaningReport clean_pool(const Pool& pool);

enum class SplitKind { stratified, official };
// "stratified" or "official"; anything else throws naming the value.
SplitKind parse_split_kind(const std::string& name);
const char* split_kind_name(SplitKind kind);

struct Split {
  std::vector<std::size_t> train;  // pooled indices, class-interleaved shuffled order
  std::vector<std::size_t> test;   // pooled indices, ascending
};

// Kept samples only. stratified: per class, largest-remainder quotas summing to
// round(kept/5) test images; whole duplicate groups go to one side. official:
// the file of origin decides. Train order is a stratified shuffle: class c's
// j-th member (in shuffled order) gets key (j + u) / n_c, u uniform in [0,1),
// and rows are sorted by key, so every prefix is class-balanced within ~2.
Split split_pool(const Pool& pool, const CleaningReport& cleaning, SplitKind kind,
                 std::uint64_t seed);

// Duplicate groups with members in both train and test (0 for stratified).
std::size_t count_straddling_groups(const CleaningReport& cleaning, const Split& split);

// Per-class counts of labels[indices].
std::array<std::size_t, kNumClasses> count_classes(std::span<const std::uint8_t> labels,
                                                   std::span<const std::size_t> indices);

// Rows of pool in the given order, with their pooled indices.
SplitRows select_rows(const Digits& pool, std::span<const std::size_t> indices);

// The cleaning figures stored as root attributes of the dataset file.
std::map<std::string, std::int64_t> cleaning_figures(const Pool& pool,
                                                     const CleaningReport& cleaning,
                                                     const Split& split);

}  // namespace dpmnist
