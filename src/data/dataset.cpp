#include "dpmnist/data/dataset.h"

#include <filesystem>
#include <system_error>

#include "dpmnist/core/error.h"
#include "dpmnist/core/hash.h"
#include "dpmnist/data/sha256.h"

namespace dpmnist {
namespace {

constexpr const char* kRerun = "; re-run dpmnist-prepare to rebuild it";
constexpr const char* kSplitGroups[] = {"train", "test"};

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

bool is_split_kind(const std::string& split) {
  return split == "stratified" || split == "official";
}

void check_rows(const SplitRows& rows, const char* group) {
  const std::size_t n = rows.digits.size();
  require(rows.digits.images.size() == n * kImagePixels, "write_dataset: /", group, " has ",
          rows.digits.images.size(), " pixels for ", n, " labels, expected ", n * kImagePixels);
  require(rows.source_index.size() == n, "write_dataset: /", group, " has ",
          rows.source_index.size(), " source indices for ", n, " labels");
  for (std::size_t i = 0; i < n; ++i) {
    require(rows.digits.labels[i] < kNumClasses, "write_dataset: /", group, " row ", i,
            " has label ", int{rows.digits.labels[i]}, ", expected 0..", kNumClasses - 1);
  }
}

// Hashes what a reader sees, in file order, so equal hashes mean equal rows.
std::string hash_content(const SplitRows& train, const SplitRows& test) {
  Sha256 hash;
  for (const SplitRows* rows : {&train, &test}) {
    hash.update(rows->digits.images);
    hash.update(rows->digits.labels);
    hash.update(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(rows->source_index.data()),
        rows->source_index.size() * sizeof(std::int32_t)));
  }
  return hash.finish_hex();
}

void write_rows(H5File& file, const SplitRows& rows, const std::string& group) {
  const std::size_t n = rows.digits.size();
  file.write<std::uint8_t>("/" + group + "/images", rows.digits.images,
                           {n, kImageSide, kImageSide});
  file.write<std::uint8_t>("/" + group + "/labels", rows.digits.labels, {n});
  file.write<std::int32_t>("/" + group + "/source_index", rows.source_index, {n});
}

std::size_t check_group(const H5File& file, const std::string& group) {
  const std::string images = "/" + group + "/images";
  const std::string labels = "/" + group + "/labels";
  const std::string sources = "/" + group + "/source_index";
  for (const std::string& name : {images, labels, sources}) {
    require(file.exists(name), "file ", file.path(), ": dataset ", name, " is missing", kRerun);
  }
  const Shape image_shape = file.shape(images);
  require(image_shape.size() == 3 && image_shape[1] == kImageSide && image_shape[2] == kImageSide,
          "file ", file.path(), ": dataset ", images, " has shape ", shape_text(image_shape),
          ", expected [N,", kImageSide, ",", kImageSide, "]", kRerun);
  const std::size_t n = image_shape[0];
  for (const std::string& name : {labels, sources}) {
    const Shape shape = file.shape(name);
    require(shape == Shape{n}, "file ", file.path(), ": dataset ", name, " has shape ",
            shape_text(shape), ", expected [", n, "] (one per image in ", images, ")", kRerun);
  }
  return n;
}

}  // namespace

void write_dataset(const std::string& path, const SplitRows& train, const SplitRows& test,
                   const DatasetAttributes& attributes) {
  check_rows(train, "train");
  check_rows(test, "test");
  require(train.digits.size() > 0, "write_dataset: ", path, ": the train split is empty");
  require(is_split_kind(attributes.split), "write_dataset: ", path, ": split is '",
          attributes.split, "', expected 'stratified' or 'official'");
  for (const auto& [name, value] : attributes.figures) {
    require(name != "format_version" && name != "seed" && !name.starts_with("sha256_") &&
                !name.starts_with("normalization") && name != "split" && name != "content_sha256",
            "write_dataset: figure name '", name, "' collides with a schema attribute");
  }
  const std::string temporary = path + ".tmp";
  try {
    H5File file = H5File::create(temporary);
    write_rows(file, train, "train");
    write_rows(file, test, "test");
    file.write_attr("/", "format_version", kDataFormatVersion);
    file.write_attr("/", "seed", attributes.seed);
    file.write_attr("/", "split", attributes.split);
    file.write_attr("/", "normalization", std::string("pixel/255"));
    file.write_attr("/", "normalization_scale", 1.0 / 255.0);
    file.write_attr("/", "content_sha256", hash_content(train, test));
    for (const auto& [name, hex] : attributes.sha256) file.write_attr("/", "sha256_" + name, hex);
    for (const auto& [name, value] : attributes.figures) file.write_attr("/", name, value);
    file.close();
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    require(!error, "file ", path, ": cannot rename ", temporary, " onto it: ", error.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
}

DataInfo inspect_dataset(const H5File& file) {
  const std::string& path = file.path();
  require(file.has_attr("/", "format_version"), "file ", path,
          ": no format_version attribute on /, so not a dpmnist dataset", kRerun);
  DataInfo info;
  info.format_version = file.read_attr_int("/", "format_version");
  require(info.format_version == kDataFormatVersion, "file ", path, ": format_version is ",
          info.format_version, ", expected ", kDataFormatVersion, " (what this build reads)",
          kRerun);
  for (const char* name : {"seed", "split", "content_sha256"}) {
    require(file.has_attr("/", name), "file ", path, ": attribute /@", name, " is missing", kRerun);
  }
  info.seed = file.read_attr_int("/", "seed");
  info.split = file.read_attr_string("/", "split");
  require(is_split_kind(info.split), "file ", path, ": attribute /@split is '", info.split,
          "', expected 'stratified' or 'official'", kRerun);
  info.train_count = check_group(file, "train");
  info.test_count = check_group(file, "test");
  require(info.train_count > 0, "file ", path, ": dataset /train/images has 0 rows", kRerun);
  info.fingerprint =
      fnv1a(concat("format_version=", info.format_version, ";seed=", info.seed,
                   ";split=", info.split, ";train=", info.train_count, ";test=", info.test_count,
                   ";content_sha256=", file.read_attr_string("/", "content_sha256")));
  return info;
}

Digits read_digits(const H5File& file, const std::string& split, Range rows) {
  require(split == kSplitGroups[0] || split == kSplitGroups[1], "file ", file.path(), ": split '",
          split, "' requested, expected 'train' or 'test'");
  require(rows.begin <= rows.end, "file ", file.path(), ": /", split, " row range [", rows.begin,
          ",", rows.end, ") is reversed");
  Digits digits;
  digits.images.resize(rows.size() * kImagePixels);
  digits.labels.resize(rows.size());
  file.read_rows<std::uint8_t>("/" + split + "/images", rows.begin, rows.end,
                               std::span<std::uint8_t>(digits.images));
  file.read_rows<std::uint8_t>("/" + split + "/labels", rows.begin, rows.end,
                               std::span<std::uint8_t>(digits.labels));
  for (std::size_t i = 0; i < digits.size(); ++i) {
    require(digits.labels[i] < kNumClasses, "file ", file.path(), ": /", split, "/labels row ",
            rows.begin + i, " is ", int{digits.labels[i]}, ", expected 0..", kNumClasses - 1,
            kRerun);
  }
  return digits;
}

}  // namespace dpmnist
