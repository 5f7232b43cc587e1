#include "dpmnist/config.h"

#include <boost/program_options.hpp>
#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>

#include "dpmnist/error.h"

namespace po = boost::program_options;

namespace dpmnist {
namespace {

std::string join_widths(const std::vector<std::size_t>& widths) {
  std::string text;
  for (std::size_t i = 0; i < widths.size(); ++i)
    text += (i ? "," : "") + std::to_string(widths[i]);
  return text;
}

void validate(const TrainConfig& c) {
  require(c.epochs >= 1, "train.epochs = ", c.epochs, ", expected >= 1");
  require(c.batch_size >= 1, "train.batch_size = ", c.batch_size, ", expected >= 1");
  require(c.lr_scaling == "none" || c.lr_scaling == "linear" || c.lr_scaling == "sqrt",
          "train.lr_scaling = '", c.lr_scaling, "', expected none, linear or sqrt");
  require(
      c.gradient_sync == "allreduce" || c.gradient_sync == "sharded" || c.gradient_sync == "shm",
      "train.gradient_sync = '", c.gradient_sync, "', expected allreduce, sharded or shm");
  require(
      c.gradient_factors == "auto" || c.gradient_factors == "true" || c.gradient_factors == "false",
      "train.gradient_factors = '", c.gradient_factors, "', expected auto, true or false");
  require(!c.overlap || c.gradient_sync == "allreduce",
          "train.overlap = true needs train.gradient_sync = allreduce (got ", c.gradient_sync, ")");
  require(c.overlap_chunks >= 1 && c.overlap_chunks <= 56,
          "train.overlap_chunks = ", c.overlap_chunks, ", expected 1..56");
  require(c.lr_reference_batch >= 1, "train.lr_reference_batch must be >= 1");
  require(c.adam.learning_rate > 0 && std::isfinite(c.adam.learning_rate),
          "optimizer.learning_rate = ", c.adam.learning_rate, ", expected > 0");
  require(c.adam.beta1 >= 0 && c.adam.beta1 < 1, "optimizer.beta1 = ", c.adam.beta1,
          ", expected in [0,1)");
  require(c.adam.beta2 >= 0 && c.adam.beta2 < 1, "optimizer.beta2 = ", c.adam.beta2,
          ", expected in [0,1)");
  require(c.adam.epsilon > 0, "optimizer.epsilon = ", c.adam.epsilon, ", expected > 0");
  require(c.dropout >= 0 && c.dropout < 1 && c.input_dropout >= 0 && c.input_dropout < 1,
          "model.dropout = ", c.dropout, " and model.input_dropout = ", c.input_dropout,
          ": expected rates in [0,1)");
  require(c.sparse_input_max_density >= 0 && c.sparse_input_max_density <= 1,
          "model.sparse_input_max_density = ", c.sparse_input_max_density,
          ", expected in [0,1] (0 = always the dense GEMM)");
  require(c.adam.weight_decay >= 0, "optimizer.weight_decay = ", c.adam.weight_decay,
          ", expected >= 0");
  require(c.max_norm >= 0, "optimizer.max_norm = ", c.max_norm, ", expected >= 0 (0 = off)");
  require(c.label_smoothing >= 0 && c.label_smoothing < 1,
          "train.label_smoothing = ", c.label_smoothing, ", expected in [0,1)");
  require(c.warmup_epochs >= 0, "schedule.warmup_epochs = ", c.warmup_epochs, ", expected >= 0");
  require(c.decay == "none" || c.decay == "cosine" || c.decay == "step", "schedule.decay = '",
          c.decay, "', expected none, cosine or step");
  require(c.min_lr_fraction >= 0 && c.min_lr_fraction <= 1,
          "schedule.min_lr_fraction = ", c.min_lr_fraction, ", expected in [0,1]");
  require(c.step_epochs > 0 && c.step_gamma > 0, "schedule.step_epochs and step_gamma must be > 0");
  require(c.augment.rotate_degrees >= 0 && c.augment.scale >= 0 && c.augment.scale < 1 &&
              c.augment.shear_degrees >= 0 && c.augment.translate >= 0 &&
              c.augment.elastic_alpha >= 0,
          "augment.*: ranges must be >= 0 (and scale < 1)");
  require(c.augment.elastic_grid >= 1 && c.augment.elastic_grid <= 16,
          "augment.elastic_grid = ", c.augment.elastic_grid, ", expected 1..16");
  require(c.checkpoint_every >= 1, "output.checkpoint_every = ", c.checkpoint_every,
          ", expected >= 1");
  require(c.keep_checkpoints >= 1, "output.keep_checkpoints = ", c.keep_checkpoints,
          ", expected >= 1");
  require(c.progress_seconds >= 0, "output.progress_seconds = ", c.progress_seconds,
          ", expected >= 0 (0 = no progress lines within an epoch)");
  require(c.eval_batch >= 1, "eval.batch = ", c.eval_batch, ", expected >= 1");
  require(c.blas_threads >= 1, "runtime.blas_threads = ", c.blas_threads, ", expected >= 1");
}

}  // namespace

std::vector<std::size_t> parse_widths(const std::string& text) {
  std::vector<std::size_t> widths;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    long long width = 0;
    try {
      width = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
    require(used == item.size() && width > 0 && width <= 1 << 16, "model.hidden: '", item, "' in '",
            text, "' is not a width in [1,65536]; expected e.g. 128 or 512,256");
    widths.push_back(static_cast<std::size_t>(width));
  }
  return widths;
}

std::vector<std::size_t> TrainConfig::widths() const {
  std::vector<std::size_t> widths = {784};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(10);
  return widths;
}

std::size_t TrainConfig::global_batch(int world_size) const {
  return global_batch_size ? global_batch_size : batch_size * static_cast<std::size_t>(world_size);
}

float TrainConfig::learning_rate(int world_size) const {
  const double ratio =
      static_cast<double>(global_batch(world_size)) / static_cast<double>(lr_reference_batch);
  const double factor = lr_scaling == "linear" ? ratio
                        : lr_scaling == "sqrt" ? std::sqrt(ratio)
                                               : 1.0;
  return static_cast<float>(adam.learning_rate * factor);
}

float TrainConfig::learning_rate_at(int world_size, double epochs_done) const {
  const double base = learning_rate(world_size);
  if (epochs_done < warmup_epochs) return static_cast<float>(base * epochs_done / warmup_epochs);
  const double span = static_cast<double>(epochs) - warmup_epochs;
  const double progress = span > 0 ? std::min(1.0, (epochs_done - warmup_epochs) / span) : 1.0;
  if (decay == "cosine") {
    const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    return static_cast<float>(base * (min_lr_fraction + (1.0 - min_lr_fraction) * cosine));
  }
  if (decay == "step") {
    const double drops = std::floor((epochs_done - warmup_epochs) / step_epochs);
    return static_cast<float>(base * std::pow(step_gamma, drops));
  }
  return static_cast<float>(base);
}

std::string TrainConfig::to_text() const {
  std::ostringstream out;
  out.precision(9);
  out << "model.hidden = " << join_widths(hidden) << "\n"
      << "model.dropout = " << dropout << "\n"
      << "model.input_dropout = " << input_dropout << "\n"
      << "model.sparse_input_max_density = " << sparse_input_max_density << "\n"
      << "train.epochs = " << epochs << "\n"
      << "train.batch_size = " << batch_size << "\n"
      << "train.global_batch_size = " << global_batch_size << "\n"
      << "train.lr_scaling = " << lr_scaling << "\n"
      << "train.lr_reference_batch = " << lr_reference_batch << "\n"
      << "train.gradient_sync = " << gradient_sync << "\n"
      << "train.gradient_factors = " << gradient_factors << "\n"
      << "train.overlap = " << (overlap ? "true" : "false") << "\n"
      << "train.overlap_chunks = " << overlap_chunks << "\n"
      << "train.seed = " << seed << "\n"
      << "optimizer.learning_rate = " << adam.learning_rate << "\n"
      << "optimizer.beta1 = " << adam.beta1 << "\n"
      << "optimizer.beta2 = " << adam.beta2 << "\n"
      << "optimizer.epsilon = " << adam.epsilon << "\n"
      << "optimizer.weight_decay = " << adam.weight_decay << "\n"
      << "optimizer.max_norm = " << max_norm << "\n"
      << "train.label_smoothing = " << label_smoothing << "\n"
      << "train.validation_size = " << validation_size << "\n"
      << "schedule.warmup_epochs = " << warmup_epochs << "\n"
      << "schedule.decay = " << decay << "\n"
      << "schedule.min_lr_fraction = " << min_lr_fraction << "\n"
      << "schedule.step_epochs = " << step_epochs << "\n"
      << "schedule.step_gamma = " << step_gamma << "\n"
      << "augment.rotate_degrees = " << augment.rotate_degrees << "\n"
      << "augment.scale = " << augment.scale << "\n"
      << "augment.shear_degrees = " << augment.shear_degrees << "\n"
      << "augment.translate = " << augment.translate << "\n"
      << "augment.elastic_alpha = " << augment.elastic_alpha << "\n"
      << "augment.elastic_grid = " << augment.elastic_grid << "\n"
      << "output.checkpoint_every = " << checkpoint_every << "\n"
      << "output.keep_checkpoints = " << keep_checkpoints << "\n"
      << "output.progress_seconds = " << progress_seconds << "\n"
      << "eval.batch = " << eval_batch << "\n"
      << "runtime.blas_threads = " << blas_threads << "\n"
      << "runtime.flush_denormals = " << (flush_denormals ? "true" : "false") << "\n";
  return out.str();
}

TrainArgs parse_train_args(int argc, const char* const argv[]) {
  TrainArgs args;
  TrainConfig& c = args.config;
  std::string hidden = join_widths(c.hidden);

  po::options_description general("dpmnist-train options");
  general.add_options()("help,h", "print this help")(
      "config", po::value(&args.config_path), "INI file with the keys below (configs/seed.ini)")(
      "data", po::value(&args.data_path)->required(), "HDF5 data file from dpmnist-prepare")(
      "out", po::value(&args.out_dir)->required(),
      "run directory for metrics.csv and checkpoint.h5")(
      "resume", po::value(&args.resume),
      "checkpoint to continue from, or 'auto': the newest valid one in --out (none: start fresh)");
  po::options_description keys("configuration keys (in the INI file, or as --section.key=value)");
  keys.add_options()("model.hidden", po::value(&hidden), "hidden ReLU widths, comma-separated")(
      "model.dropout", po::value(&c.dropout), "dropout rate of hidden units (training only)")(
      "model.input_dropout", po::value(&c.input_dropout), "dropout rate of input pixels")(
      "model.sparse_input_max_density", po::value(&c.sparse_input_max_density),
      "first layer skips zero pixels in batches with at most this share of nonzeros; 0 = off")(
      "train.epochs", po::value(&c.epochs), "epochs to train (in total, counting resumed ones)")(
      "train.batch_size", po::value(&c.batch_size), "samples per rank per step")(
      "train.global_batch_size", po::value(&c.global_batch_size),
      "samples per step over all ranks; 0 = batch_size * ranks")(
      "train.lr_scaling", po::value(&c.lr_scaling),
      "none | linear | sqrt in global batch / lr_reference_batch")(
      "train.lr_reference_batch", po::value(&c.lr_reference_batch),
      "global batch at which learning_rate applies unscaled")(
      "train.gradient_sync", po::value(&c.gradient_sync),
      "allreduce (every rank updates all weights) | sharded (ZeRO-1: reduce-scatter, Adam on a "
      "slice, allgather) | shm (ZeRO-1 through node shared memory, hierarchical across nodes)")(
      "train.gradient_factors", po::value(&c.gradient_factors),
      "auto | true | false: under shm with the sparse input, the first kernel's gradient travels "
      "as its factors (the batch's nonzeros and dy), each rank forming its slice of the sum from "
      "them; auto: where that reads fewer bytes from peers than whole gradients")(
      "train.overlap", po::value(&c.overlap),
      "true: start summing each gradient range during backward (allreduce only)")(
      "train.overlap_chunks", po::value(&c.overlap_chunks),
      "row blocks of the first layer's kernel when overlapping")(
      "train.seed", po::value(&c.seed), "seed of initialisation and shuffling")(
      "optimizer.learning_rate", po::value(&c.adam.learning_rate), "Adam learning rate")(
      "optimizer.beta1", po::value(&c.adam.beta1), "Adam beta1")(
      "optimizer.beta2", po::value(&c.adam.beta2), "Adam beta2")(
      "optimizer.epsilon", po::value(&c.adam.epsilon), "Adam epsilon")(
      "optimizer.weight_decay", po::value(&c.adam.weight_decay), "decoupled weight decay (AdamW)")(
      "optimizer.max_norm", po::value(&c.max_norm),
      "cap on each hidden unit's incoming weight norm; 0 = off")(
      "train.label_smoothing", po::value(&c.label_smoothing),
      "label smoothing of the training targets")(
      "train.validation_size", po::value(&c.validation_size),
      "digits held out of the end of /train for validation and best.h5; 0 = none")(
      "schedule.warmup_epochs", po::value(&c.warmup_epochs), "linear warmup of the learning rate")(
      "schedule.decay", po::value(&c.decay), "none | cosine | step after warmup")(
      "schedule.min_lr_fraction", po::value(&c.min_lr_fraction),
      "cosine floor as a fraction of the rate")("schedule.step_epochs", po::value(&c.step_epochs),
                                                "step decay: epochs between drops")(
      "schedule.step_gamma", po::value(&c.step_gamma), "step decay: factor per drop")(
      "augment.rotate_degrees", po::value(&c.augment.rotate_degrees), "random rotation range")(
      "augment.scale", po::value(&c.augment.scale), "random scale range (1 +- s)")(
      "augment.shear_degrees", po::value(&c.augment.shear_degrees), "random shear range")(
      "augment.translate", po::value(&c.augment.translate), "random shift range in pixels")(
      "augment.elastic_alpha", po::value(&c.augment.elastic_alpha),
      "elastic displacement in pixels; 0 = off")("augment.elastic_grid",
                                                 po::value(&c.augment.elastic_grid),
                                                 "elastic field grid cells per side")(
      "output.checkpoint_every", po::value(&c.checkpoint_every),
      "write checkpoint.h5 every N epochs")("output.keep_checkpoints",
                                            po::value(&c.keep_checkpoints),
                                            "numbered checkpoints kept in the run directory")(
      "output.progress_seconds", po::value(&c.progress_seconds),
      "seconds between progress lines within an epoch; 0 = none")(
      "eval.batch", po::value(&c.eval_batch), "samples per forward pass during evaluation")(
      "runtime.blas_threads", po::value(&c.blas_threads), "OpenBLAS threads per rank")(
      "runtime.flush_denormals", po::value(&c.flush_denormals),
      "flush subnormal floats to zero (FTZ + DAZ) on every numeric thread");
  po::options_description all;
  all.add(general).add(keys);
  std::ostringstream usage;
  usage << "usage: mpirun -np N dpmnist-train --config configs/seed.ini --data data/mnist.h5 --out "
           "runs/NAME\n"
        << all;
  args.usage = usage.str();

  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("help")) {
      args.help = true;
      return args;
    }
    // Command-line values were stored first, so they win over the file's.
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream file(path);
      require(file.good(), "--config ", path, ": cannot open: ", os_reason());
      try {
        po::store(po::parse_config_file(file, keys), vm);
      } catch (const po::error& e) {
        throw Error(concat("--config ", path, ": ", e.what()));
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(concat(e.what(), " (see dpmnist-train --help)"));
  }
  c.hidden = parse_widths(hidden);
  validate(c);
  return args;
}

}  // namespace dpmnist
