// The prepared-dataset HDF5 file: its constants, schema, writer and the
// validated reader the trainer shards rows from. Pixels stay uint8 on disk;
// scaling (pixel/255) is the reader's caller's job. Cleaning and splitting
// live in mnist_pool.h; this header knows nothing about raw IDX files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dpmnist/core/mnist.h"
#include "dpmnist/core/shard.h"
#include "dpmnist/data/hdf5_file.h"

namespace dpmnist {

inline constexpr std::int64_t kDataFormatVersion = 1;

// Schema, format_version 1 (N train rows, M test rows):
//   /train/images uint8 [N,28,28]   /train/labels uint8 [N]   /train/source_index int32 [N]
//   /test/images  uint8 [M,28,28]   /test/labels  uint8 [M]   /test/source_index  int32 [M]
//   root attributes: format_version int64, seed int64, split "stratified"|"official",
//   normalization "pixel/255", normalization_scale double, content_sha256 string,
//   sha256_{train,test}_{images,labels} strings, cleaning figures (int64, see mnist_pool.h).
// source_index is the pooled index: 0..59999 official train order, 60000..69999 official test.

struct DataInfo {
  std::size_t train_count = 0;
  std::size_t test_count = 0;
  std::int64_t format_version = 0;
  std::int64_t seed = 0;
  std::string split;
  std::uint64_t fingerprint = 0;  // 64-bit hash of the attributes and counts
};

// Everything write_dataset stores besides the rows.
struct DatasetAttributes {
  std::int64_t seed = 0;
  std::string split;                            // "stratified" or "official"
  std::map<std::string, std::string> sha256;    // "train_images" -> hex, stored as sha256_<key>
  std::map<std::string, std::int64_t> figures;  // stored as int64 attributes named by key
};

// One split's rows as written: digits plus each row's pooled source index.
struct SplitRows {
  Digits digits;
  std::vector<std::int32_t> source_index;  // [digits.size()]
};

// Writes path + ".tmp" and renames it to path, so an interrupted run never
// leaves a half-written file at path. Serial HDF5; needs no MPI_Init.
void write_dataset(const std::string& path, const SplitRows& train, const SplitRows& test,
                   const DatasetAttributes& attributes);

// Validates the schema (format_version == kDataFormatVersion, datasets present,
// image shape [N,28,28], labels [N] with same N) and returns counts; error
// messages name the file, dataset and values seen/expected and suggest
// re-running dpmnist-prepare. Metadata only: not collective.
DataInfo inspect_dataset(const H5File& file);

// Reads rows [rows.begin, rows.end) of /<split>/images and /<split>/labels
// (split is "train" or "test"). With a parallel file this is COLLECTIVE: every
// rank calls it, even with an empty range. Throws on a label outside 0..9
// naming file, split, row and value.
Digits read_digits(const H5File& file, const std::string& split, Range rows);

}  // namespace dpmnist
