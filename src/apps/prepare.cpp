// dpmnist-prepare: raw MNIST IDX files -> one validated HDF5 dataset file.
// Parses options, runs pool/clean/split/write from the library, prints the
// cleaning report and the counts. Serial; needs no MPI_Init.
#include <boost/program_options.hpp>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

#include "dpmnist/core/error.h"
#include "dpmnist/data/dataset.h"
#include "dpmnist/data/mnist_pool.h"
#include "dpmnist/data/sha256.h"
#include "dpmnist/train/options.h"

namespace po = boost::program_options;
using namespace dpmnist;

namespace {

struct Options {
  std::string raw_dir, out_path, split = "stratified";
  std::int64_t seed = static_cast<std::int64_t>(kDefaultSplitSeed);
};

void print_classes(const char* name, std::span<const std::uint8_t> labels,
                   const std::vector<std::size_t>& indices) {
  const auto counts = count_classes(labels, indices);
  std::cout << "  " << name << " " << indices.size() << " per class:";
  for (std::size_t c = 0; c < kNumClasses; ++c) std::cout << " " << c << "=" << counts[c];
  std::cout << "\n";
}

void print_cleaning(const Pool& pool, const CleaningReport& report) {
  std::cout << "cleaning report (" << pool.digits.size() << " pooled images):\n"
            << "  exact duplicate groups: " << report.duplicate_groups << " ("
            << report.duplicate_images << " images; " << report.cross_official_groups
            << " groups span official train and test)\n"
            << "  groups with conflicting labels: " << report.conflicting_groups << " ("
            << report.conflicting_images << " images, all dropped)\n"
            << "  near-blank images (< " << kBlankPixelThreshold
            << " nonzero pixels): " << report.blank_images << " (dropped)\n"
            << "  sparsest image: " << report.fewest_ink_pixels << " nonzero pixels, pooled index "
            << report.fewest_ink_index << ", label "
            << int{pool.digits.labels[report.fewest_ink_index]} << "\n"
            << "  labels: all within 0.." << kNumClasses - 1 << "\n"
            << "  policy: dropped " << report.dropped_images << ", kept " << report.kept()
            << "; duplicate groups are kept and placed whole on one side of a stratified split\n";
}

void prepare(const Options& options) {
  const SplitKind kind = parse_split_kind(options.split);
  const RawFiles files = raw_files_in(options.raw_dir);
  DatasetAttributes attributes;
  attributes.seed = options.seed;
  attributes.split = split_kind_name(kind);
  const std::pair<const char*, const std::string*> named[] = {{"train_images", &files.train_images},
                                                              {"train_labels", &files.train_labels},
                                                              {"test_images", &files.test_images},
                                                              {"test_labels", &files.test_labels}};
  const std::string out_problem = cannot_write_file(options.out_path);
  require(out_problem.empty(), out_problem);
  for (const auto& [name, path] : named) {
    const bool gz = std::filesystem::exists(*path + ".gz");
    require(
        std::filesystem::is_regular_file(*path), "file ", *path, " is missing",
        gz ? " (only the .gz is there: run data/fetch_mnist.sh --from DIR to unpack it)"
           : "; run data/fetch_mnist.sh, or pass --raw DIR holding the 4 uncompressed IDX files");
  }
  for (const auto& [name, path] : named) {
    attributes.sha256[name] = sha256_file_hex(*path);
    std::cout << "sha256 " << attributes.sha256[name] << "  " << *path << "\n";
  }
  const Pool pool = load_pool(files);
  std::cout << "read " << pool.official_train_count << " official train + "
            << pool.digits.size() - pool.official_train_count
            << " official test images (IDX headers, lengths and labels validated)\n";
  const CleaningReport report = clean_pool(pool);
  print_cleaning(pool, report);
  const Split split = split_pool(pool, report, kind, static_cast<std::uint64_t>(options.seed));
  const std::size_t straddling = count_straddling_groups(report, split);
  std::cout << "split " << attributes.split << " (seed " << options.seed << "): train "
            << split.train.size() << ", test " << split.test.size() << "; duplicate groups "
            << "straddling train/test: " << straddling << "\n";
  print_classes("train", pool.digits.labels, split.train);
  print_classes("test ", pool.digits.labels, split.test);
  attributes.figures = cleaning_figures(pool, report, split);
  write_dataset(options.out_path, select_rows(pool.digits, split.train),
                select_rows(pool.digits, split.test), attributes);
  std::cout << "wrote " << options.out_path << " (format_version " << kDataFormatVersion << ")\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options options;
    po::options_description described("dpmnist-prepare: raw MNIST IDX files -> HDF5 dataset");
    described.add_options()("help,h", "print this help")(
        "raw", po::value(&options.raw_dir)->required(),
        "directory holding the 4 uncompressed IDX files (data/fetch_mnist.sh fills data/raw)")(
        "out", po::value(&options.out_path)->required(), "HDF5 file to write")(
        "split", po::value(&options.split)->default_value(options.split),
        "stratified (80/20 per class of all 70,000) or official (60,000/10,000)");
    add_number(described, "seed", &options.seed, at_least<std::int64_t>(0),
               "seed of the split and the train order");
    po::variables_map values;
    po::store(po::command_line_parser(argc, argv)
                  .options(described)
                  .positional(po::positional_options_description())
                  .run(),
              values);
    if (values.count("help")) {
      std::cout << described << "\n";
      return 0;
    }
    po::notify(values);
    prepare(options);
    return 0;
  } catch (const Error& error) {
    std::cerr << "error: " << error.what() << "\n";
  } catch (const po::error& error) {
    std::cerr << "error: " << error.what() << " (see --help)\n";
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
  }
  return 1;
}
