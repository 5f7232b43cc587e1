// dpmnist-eval: test accuracy, loss, per-class precision/recall/F1 and the
// confusion matrix of a checkpoint; human-readable, or --json for tools.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "dpmnist/checkpoint.h"
#include "dpmnist/comm.h"
#include "dpmnist/dataset.h"
#include "dpmnist/error.h"
#include "dpmnist/evaluate.h"
#include "dpmnist/hdf5_file.h"
#include "dpmnist/network.h"
#include "dpmnist/runtime.h"
#include "dpmnist/shard.h"

namespace po = boost::program_options;
using namespace dpmnist;

namespace {

void print_text(const std::string& checkpoint_path, const Checkpoint& checkpoint,
                const std::string& split, const EvalSums& sums) {
  std::printf("checkpoint %s (epoch %lld, %lld ranks, weights fnv1a %016llx)\n",
              checkpoint_path.c_str(), static_cast<long long>(checkpoint.epoch),
              static_cast<long long>(checkpoint.world_size),
              static_cast<unsigned long long>(hash_floats(checkpoint.params)));
  std::printf("%s set: %.0f digits, accuracy %.4f (%.0f wrong), loss %.4f\n\n", split.c_str(),
              sums.count(), sums.accuracy(), sums.count() - sums.correct(), sums.mean_loss());
  std::printf("class  precision  recall      f1  support\n");
  const std::vector<ClassScore> scores = class_scores(sums);
  for (std::size_t c = 0; c < scores.size(); ++c) {
    std::printf("%5zu  %9.4f  %6.4f  %6.4f  %7zu\n", c, scores[c].precision, scores[c].recall,
                scores[c].f1, scores[c].support);
  }
  std::printf("\nconfusion matrix (rows: true digit, columns: predicted)\n     ");
  for (std::size_t p = 0; p < kNumClasses; ++p) std::printf("%6zu", p);
  std::printf("\n");
  for (std::size_t t = 0; t < kNumClasses; ++t) {
    std::printf("%5zu", t);
    for (std::size_t p = 0; p < kNumClasses; ++p) std::printf("%6.0f", sums.confusion(t, p));
    std::printf("\n");
  }
}

void print_json(const std::string& checkpoint_path, const Checkpoint& checkpoint,
                const std::string& split, const EvalSums& sums) {
  std::printf(
      "{\"checkpoint\": \"%s\", \"epoch\": %lld, \"world_size\": %lld, "
      "\"weights_fnv1a\": \"%016llx\", \"split\": \"%s\", \"count\": %.0f, "
      "\"accuracy\": %.6f, \"loss\": %.6f, \"per_class\": [",
      checkpoint_path.c_str(), static_cast<long long>(checkpoint.epoch),
      static_cast<long long>(checkpoint.world_size),
      static_cast<unsigned long long>(hash_floats(checkpoint.params)), split.c_str(), sums.count(),
      sums.accuracy(), sums.mean_loss());
  const std::vector<ClassScore> scores = class_scores(sums);
  for (std::size_t c = 0; c < scores.size(); ++c) {
    std::printf(
        "%s{\"class\": %zu, \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, "
        "\"support\": %zu}",
        c ? ", " : "", c, scores[c].precision, scores[c].recall, scores[c].f1, scores[c].support);
  }
  std::printf("], \"confusion\": [");
  for (std::size_t t = 0; t < kNumClasses; ++t) {
    std::printf("%s[", t ? ", " : "");
    for (std::size_t p = 0; p < kNumClasses; ++p) {
      std::printf("%s%.0f", p ? ", " : "", sums.confusion(t, p));
    }
    std::printf("]");
  }
  std::printf("]}\n");
}

}  // namespace

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  MpiSession session(&argc, &argv);
  const Comm comm;
  try {
    std::string checkpoint_path, data_path, split = "test";
    std::size_t batch = 1000;
    po::options_description options("dpmnist-eval options");
    options.add_options()("help,h", "print this help")(
        "checkpoint", po::value(&checkpoint_path)->required(), "checkpoint.h5 from dpmnist-train")(
        "data", po::value(&data_path)->required(), "HDF5 data file from dpmnist-prepare")(
        "split", po::value(&split), "test (default) or train")(
        "batch", po::value(&batch), "samples per forward pass")("json", "print one JSON object");
    po::variables_map vm;
    try {
      po::store(po::parse_command_line(argc, argv, options), vm);
      if (vm.count("help")) {
        if (comm.rank() == 0) std::cout << options;
        return 0;
      }
      po::notify(vm);
    } catch (const po::error& e) {
      throw Error(concat(e.what(), " (see dpmnist-eval --help)"));
    }
    require(split == "test" || split == "train", "--split '", split, "': expected test or train");
    require(batch >= 1, "--batch must be >= 1");

    const Checkpoint checkpoint = load_checkpoint(checkpoint_path);
    Network net(checkpoint.widths, batch);
    std::ranges::copy(checkpoint.params, net.params().begin());

    H5File file = H5File::open_read_parallel(data_path, comm.raw());
    const DataInfo info = inspect_dataset(file);
    const std::size_t count = split == "test" ? info.test_count : info.train_count;
    const Digits digits = read_digits(file, split, shard_range(count, comm.rank(), comm.size()));
    std::vector<float> x(batch * kImagePixels);
    std::vector<std::uint8_t> labels(batch);
    EvalSums sums = evaluate_digits(net, digits, x, labels);
    comm.allreduce_sum(sums.values);
    if (comm.rank() == 0) {
      if (vm.count("json")) {
        print_json(checkpoint_path, checkpoint, split, sums);
      } else {
        print_text(checkpoint_path, checkpoint, split, sums);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "[rank " << comm.rank() << "] error: " << e.what() << std::endl;
    if (comm.size() > 1) comm.abort(1);
    return 1;
  }
}
