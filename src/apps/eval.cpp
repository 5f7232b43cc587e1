// dpmnist-eval: test accuracy, loss, per-class precision/recall/F1 and the
// confusion matrix of a checkpoint; human-readable, or --json for tools.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "dpmnist/core/error.h"
#include "dpmnist/core/hash.h"
#include "dpmnist/core/json.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/core/shard.h"
#include "dpmnist/data/checkpoint.h"
#include "dpmnist/data/dataset.h"
#include "dpmnist/data/hdf5_file.h"
#include "dpmnist/nn/network.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/train/evaluate.h"
#include "dpmnist/train/options.h"

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
  char weights[17];
  std::snprintf(weights, sizeof weights, "%016llx",
                static_cast<unsigned long long>(hash_floats(checkpoint.params)));
  Json per_class = Json::array();
  for (const ClassScore& s : class_scores(sums)) {
    per_class.push_back({{"class", per_class.size()},
                         {"precision", s.precision},
                         {"recall", s.recall},
                         {"f1", s.f1},
                         {"support", s.support}});
  }
  Json confusion = Json::array();
  for (std::size_t t = 0; t < kNumClasses; ++t) {
    Json row = Json::array();
    for (std::size_t p = 0; p < kNumClasses; ++p)
      row.push_back(static_cast<std::int64_t>(sums.confusion(t, p)));
    confusion.push_back(row);
  }
  const Json json = {{"checkpoint", checkpoint_path},
                     {"epoch", checkpoint.epoch},
                     {"world_size", checkpoint.world_size},
                     {"weights_fnv1a", weights},
                     {"split", split},
                     {"count", static_cast<std::int64_t>(sums.count())},
                     {"accuracy", sums.accuracy()},
                     {"loss", sums.mean_loss()},
                     {"per_class", per_class},
                     {"confusion", confusion}};
  std::printf("%s\n", json_text(json).c_str());
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
        "split", po::value(&split), "test (default) or train")("json", "print one JSON object");
    add_number(options, "batch", &batch, between<std::size_t>(1, 1 << 20),
               "samples per forward pass");
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
