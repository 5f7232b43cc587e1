// Pooling, cleaning and the stratified split on a synthetic 700-image pool;
// the HDF5 schema round trip and its validation; SHA-256 known vectors.
// Fixtures (IDX and HDF5 files) are written by the tests into a temp dir.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/data/dataset.h"
#include "dpmnist/data/idx.h"
#include "dpmnist/data/mnist_pool.h"
#include "dpmnist/data/sha256.h"

namespace dpmnist {
namespace {

// Uneven class sizes (sum 700) so largest-remainder rounding is exercised.
constexpr std::size_t kClassSizes[kNumClasses] = {73, 67, 70, 71, 69, 64, 76, 70, 68, 72};

// 700 distinct non-blank images; labels grouped by class then mixed by a shuffle.
Pool synthetic_pool() {
  std::vector<std::uint8_t> labels;
  for (std::size_t c = 0; c < kNumClasses; ++c)
    labels.insert(labels.end(), kClassSizes[c], static_cast<std::uint8_t>(c));
  Rng rng(7);
  shuffle(std::span<std::uint8_t>(labels), rng);
  Pool pool;
  pool.official_train_count = 600;
  pool.digits.labels = labels;
  pool.digits.images.resize(labels.size() * kImagePixels);
  for (auto& pixel : pool.digits.images) {
    pixel = rng.uniform() < 0.3f ? static_cast<std::uint8_t>(1 + rng.below(255)) : 0;
  }
  return pool;
}

void copy_image(Pool& pool, std::size_t from, std::size_t to) {
  std::copy_n(pool.digits.images.begin() + static_cast<std::ptrdiff_t>(from * kImagePixels),
              kImagePixels,
              pool.digits.images.begin() + static_cast<std::ptrdiff_t>(to * kImagePixels));
}

// Makes `groups` duplicate groups of 2..4 same-label images; returns members.
std::size_t add_duplicate_groups(Pool& pool, std::size_t groups) {
  std::size_t members = 0;
  std::size_t next = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t first = next;
    const std::size_t size = 2 + g % 3;
    std::size_t found = 1;
    for (next = first + 1; found < size && next < pool.digits.size(); ++next) {
      if (pool.digits.labels[next] == pool.digits.labels[first]) {
        copy_image(pool, first, next);
        ++found;
      }
    }
    members += size;
  }
  return members;
}

template <class Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected dpmnist::Error";
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("dpmnist_test_dataset_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST(Split, StratifiedCountsAreExactAndCoverEveryImageOnce) {
  const Pool pool = synthetic_pool();
  const CleaningReport report = clean_pool(pool);
  EXPECT_EQ(report.duplicate_groups, 0u);
  EXPECT_EQ(report.dropped_images, 0u);
  const Split split = split_pool(pool, report, SplitKind::stratified, 1234);
  EXPECT_EQ(split.train.size(), 560u);
  EXPECT_EQ(split.test.size(), 140u);
  const auto test_counts = count_classes(pool.digits.labels, split.test);
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const double share = static_cast<double>(kClassSizes[c]) / kTestShareDenominator;
    EXPECT_LT(std::abs(static_cast<double>(test_counts[c]) - share), 1.0) << "class " << c;
  }
  std::vector<std::size_t> all = split.train;
  all.insert(all.end(), split.test.begin(), split.test.end());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i);
  EXPECT_TRUE(std::is_sorted(split.test.begin(), split.test.end()));
}

TEST(Split, DeterministicPerSeedAndDifferentAcrossSeeds) {
  const Pool pool = synthetic_pool();
  const CleaningReport report = clean_pool(pool);
  const Split a = split_pool(pool, report, SplitKind::stratified, 20260611);
  const Split b = split_pool(pool, report, SplitKind::stratified, 20260611);
  const Split c = split_pool(pool, report, SplitKind::stratified, 20260612);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.test, c.test);
  EXPECT_NE(a.train, c.train);
}

TEST(Split, TrainPrefixesAreClassBalanced) {
  const Pool pool = synthetic_pool();
  const Split split = split_pool(pool, clean_pool(pool), SplitKind::stratified, 99);
  const auto totals = count_classes(pool.digits.labels, split.train);
  for (std::size_t k : {20u, 50u, 100u, 187u, 280u, 560u}) {
    const auto counts = count_classes(pool.digits.labels, std::span(split.train).first(k));
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      const double expected = static_cast<double>(k * totals[c]) / 560.0;
      EXPECT_LE(std::abs(static_cast<double>(counts[c]) - expected), 2.0)
          << "prefix " << k << " class " << c;
    }
  }
}

TEST(Split, DuplicateGroupsNeverStraddle) {
  Pool pool = synthetic_pool();
  const std::size_t members = add_duplicate_groups(pool, 15);
  const CleaningReport report = clean_pool(pool);
  EXPECT_EQ(report.duplicate_groups, 15u);
  EXPECT_EQ(report.duplicate_images, members);
  EXPECT_EQ(report.conflicting_groups, 0u);
  EXPECT_EQ(report.kept(), 700u);
  for (std::uint64_t seed = 1; seed <= 25; ++seed) {
    const Split split = split_pool(pool, report, SplitKind::stratified, seed);
    EXPECT_EQ(count_straddling_groups(report, split), 0u) << "seed " << seed;
    EXPECT_EQ(split.test.size(), 140u) << "seed " << seed;
    EXPECT_EQ(split.train.size(), 560u) << "seed " << seed;
  }
}

TEST(Cleaning, DropsConflictingGroupsAndBlankImages) {
  Pool pool = synthetic_pool();
  std::size_t other = 1;
  while (pool.digits.labels[other] == pool.digits.labels[0]) ++other;
  copy_image(pool, 0, other);  // same bytes, different labels
  std::fill_n(pool.digits.images.begin() + 650 * kImagePixels, kImagePixels, 0);
  pool.digits.images[650 * kImagePixels + 3] = 255;  // one ink pixel: near-blank
  const CleaningReport report = clean_pool(pool);
  EXPECT_EQ(report.duplicate_groups, 1u);
  EXPECT_EQ(report.conflicting_groups, 1u);
  EXPECT_EQ(report.conflicting_images, 2u);
  EXPECT_EQ(report.blank_images, 1u);
  EXPECT_EQ(report.fewest_ink_pixels, 1u);
  EXPECT_EQ(report.fewest_ink_index, 650u);
  EXPECT_EQ(report.dropped_images, 3u);
  EXPECT_EQ(report.group[other], 0u);
  const Split split = split_pool(pool, report, SplitKind::stratified, 5);
  EXPECT_EQ(split.train.size() + split.test.size(), 697u);
  EXPECT_EQ(split.test.size(), 139u);  // round(697 / 5)
  for (std::size_t dropped : {std::size_t{0}, other, std::size_t{650}}) {
    EXPECT_EQ(std::count(split.train.begin(), split.train.end(), dropped), 0);
    EXPECT_EQ(std::count(split.test.begin(), split.test.end(), dropped), 0);
  }
}

TEST(Split, OfficialKeepsTheFileOfOrigin) {
  Pool pool = synthetic_pool();
  std::size_t twin = 600;
  while (pool.digits.labels[twin] != pool.digits.labels[10]) ++twin;
  copy_image(pool, 10, twin);
  const CleaningReport report = clean_pool(pool);
  EXPECT_EQ(report.cross_official_groups, 1u);
  const Split split = split_pool(pool, report, SplitKind::official, 3);
  EXPECT_EQ(split.train.size(), 600u);
  EXPECT_EQ(split.test.size(), 100u);
  EXPECT_EQ(*std::max_element(split.train.begin(), split.train.end()), 599u);
  EXPECT_EQ(split.test.front(), 600u);
  EXPECT_EQ(count_straddling_groups(report, split), 1u);
  EXPECT_EQ(split_kind_name(parse_split_kind("official")), std::string("official"));
  EXPECT_TRUE(contains(error_of([] { parse_split_kind("random"); }), "'random'"));
}

TEST_F(TempDir, LoadPoolValidatesCountsAndLabels) {
  const Pool synthetic = synthetic_pool();
  const RawFiles files = raw_files_in(dir_.string());
  std::vector<std::uint8_t> first(synthetic.digits.images.begin(),
                                  synthetic.digits.images.begin() + 600 * kImagePixels);
  std::vector<std::uint8_t> rest(synthetic.digits.images.begin() + 600 * kImagePixels,
                                 synthetic.digits.images.end());
  write_idx_images(files.train_images, {600, 28, 28, first});
  write_idx_images(files.test_images, {100, 28, 28, rest});
  std::vector<std::uint8_t> train_labels(synthetic.digits.labels.begin(),
                                         synthetic.digits.labels.begin() + 600);
  std::vector<std::uint8_t> test_labels(synthetic.digits.labels.begin() + 600,
                                        synthetic.digits.labels.end());
  write_idx_labels(files.train_labels, train_labels);
  write_idx_labels(files.test_labels, test_labels);
  const Pool pool = load_pool(files);
  EXPECT_EQ(pool.official_train_count, 600u);
  EXPECT_EQ(pool.digits.images, synthetic.digits.images);
  EXPECT_EQ(pool.digits.labels, synthetic.digits.labels);

  test_labels[42] = 10;
  write_idx_labels(files.test_labels, test_labels);
  const std::string bad_label = error_of([&] { load_pool(files); });
  EXPECT_TRUE(contains(bad_label, files.test_labels)) << bad_label;
  EXPECT_TRUE(contains(bad_label, "label at index 42 is 10, expected 0..9")) << bad_label;

  write_idx_labels(files.test_labels, std::span(test_labels).first(99));
  const std::string mismatch = error_of([&] { load_pool(files); });
  EXPECT_TRUE(contains(mismatch, "(100 images)")) << mismatch;
  EXPECT_TRUE(contains(mismatch, "(99 labels)")) << mismatch;
}

TEST_F(TempDir, WriteThenReadDigitsRoundTrips) {
  const Pool pool = synthetic_pool();
  const CleaningReport report = clean_pool(pool);
  const Split split = split_pool(pool, report, SplitKind::stratified, 11);
  const SplitRows train = select_rows(pool.digits, split.train);
  const SplitRows test = select_rows(pool.digits, split.test);
  DatasetAttributes attributes{
      11, "stratified", {{"train_images", "ab12"}}, cleaning_figures(pool, report, split)};
  write_dataset(path("d.h5"), train, test, attributes);
  EXPECT_FALSE(std::filesystem::exists(path("d.h5.tmp")));

  const H5File file = H5File::open_read(path("d.h5"));
  const DataInfo info = inspect_dataset(file);
  EXPECT_EQ(info.train_count, 560u);
  EXPECT_EQ(info.test_count, 140u);
  EXPECT_EQ(info.format_version, kDataFormatVersion);
  EXPECT_EQ(info.seed, 11);
  EXPECT_EQ(info.split, "stratified");
  EXPECT_EQ(inspect_dataset(file).fingerprint, info.fingerprint);
  EXPECT_EQ(file.read_attr_string("/", "sha256_train_images"), "ab12");
  EXPECT_EQ(file.read_attr_int("/", "duplicate_groups"), 0);
  EXPECT_EQ(file.read_attr_string("/", "normalization"), "pixel/255");
  EXPECT_DOUBLE_EQ(file.read_attr_double("/", "normalization_scale"), 1.0 / 255.0);

  const Digits all = read_digits(file, "train", {0, 560});
  EXPECT_EQ(all.images, train.digits.images);
  EXPECT_EQ(all.labels, train.digits.labels);
  const Digits part = read_digits(file, "test", {17, 40});
  ASSERT_EQ(part.size(), 23u);
  EXPECT_TRUE(std::equal(part.images.begin(), part.images.end(),
                         test.digits.images.begin() + 17 * kImagePixels));
  EXPECT_TRUE(std::equal(part.labels.begin(), part.labels.end(), test.digits.labels.begin() + 17));
  EXPECT_EQ(read_digits(file, "test", {140, 140}).size(), 0u);
  EXPECT_EQ(file.read<std::int32_t>("/test/source_index"), test.source_index);
  EXPECT_TRUE(contains(error_of([&] { read_digits(file, "validation", {0, 1}); }), "'validation'"));

  SplitRows other_test = test;
  other_test.digits.labels[0] = static_cast<std::uint8_t>((other_test.digits.labels[0] + 1) % 10);
  write_dataset(path("e.h5"), train, other_test, attributes);
  EXPECT_NE(inspect_dataset(H5File::open_read(path("e.h5"))).fingerprint, info.fingerprint);
}

// A hand-built file with the given schema deviations, for the rejection tests.
void write_fixture(const std::string& file_path, std::int64_t version, std::size_t image_cols,
                   bool with_test_labels, std::uint8_t first_label) {
  H5File file = H5File::create(file_path);
  const std::size_t n = 4;
  const std::vector<std::uint8_t> images(n * 28 * image_cols, 5);
  std::vector<std::uint8_t> labels = {first_label, 1, 2, 3};
  const std::vector<std::int32_t> sources = {0, 1, 2, 3};
  for (const std::string group : {"/train", "/test"}) {
    file.write<std::uint8_t>(group + "/images", images, {n, 28, image_cols});
    if (group == "/train" || with_test_labels)
      file.write<std::uint8_t>(group + "/labels", labels, {n});
    file.write<std::int32_t>(group + "/source_index", sources, {n});
  }
  file.write_attr("/", "format_version", version);
  file.write_attr("/", "seed", std::int64_t{1});
  file.write_attr("/", "split", std::string("stratified"));
  file.write_attr("/", "content_sha256", std::string("00"));
  file.close();
}

TEST_F(TempDir, InspectRejectsWrongVersionMissingDatasetAndWrongShape) {
  write_fixture(path("ok.h5"), 1, 28, true, 0);
  EXPECT_EQ(inspect_dataset(H5File::open_read(path("ok.h5"))).train_count, 4u);

  write_fixture(path("v2.h5"), 2, 28, true, 0);
  const std::string version = error_of([&] { inspect_dataset(H5File::open_read(path("v2.h5"))); });
  EXPECT_TRUE(contains(version, path("v2.h5"))) << version;
  EXPECT_TRUE(contains(version, "format_version is 2, expected 1")) << version;
  EXPECT_TRUE(contains(version, "dpmnist-prepare")) << version;

  write_fixture(path("missing.h5"), 1, 28, false, 0);
  const std::string missing =
      error_of([&] { inspect_dataset(H5File::open_read(path("missing.h5"))); });
  EXPECT_TRUE(contains(missing, path("missing.h5"))) << missing;
  EXPECT_TRUE(contains(missing, "dataset /test/labels is missing")) << missing;

  write_fixture(path("shape.h5"), 1, 27, true, 0);
  const std::string shape = error_of([&] { inspect_dataset(H5File::open_read(path("shape.h5"))); });
  EXPECT_TRUE(contains(shape, path("shape.h5"))) << shape;
  EXPECT_TRUE(contains(shape, "dataset /train/images has shape [4,28,27], expected [N,28,28]"))
      << shape;
}

TEST_F(TempDir, ReadDigitsRejectsOutOfRangeLabel) {
  write_fixture(path("label.h5"), 1, 28, true, 12);
  const H5File file = H5File::open_read(path("label.h5"));
  const std::string message = error_of([&] { read_digits(file, "train", {0, 4}); });
  EXPECT_TRUE(contains(message, path("label.h5"))) << message;
  EXPECT_TRUE(contains(message, "/train/labels row 0 is 12, expected 0..9")) << message;
}

std::string sha_of(const std::string& text) {
  return sha256_hex(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 streamed;  // one million 'a' in uneven chunks exercises the block buffer
  const std::vector<std::uint8_t> chunk(997, 'a');
  std::size_t left = 1000000;
  while (left > 0) {
    const std::size_t take = std::min(left, chunk.size());
    streamed.update(std::span(chunk).first(take));
    left -= take;
  }
  EXPECT_EQ(streamed.finish_hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace dpmnist
