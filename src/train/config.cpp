#include "dpmnist/train/config.h"

#include <boost/program_options.hpp>
#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>

#include "dpmnist/core/error.h"
#include "dpmnist/train/options.h"

namespace po = boost::program_options;

namespace dpmnist {
namespace {

std::string join_widths(const std::vector<std::size_t>& widths) {
  std::string text;
  for (std::size_t i = 0; i < widths.size(); ++i)
    text += (i ? "," : "") + std::to_string(widths[i]);
  return text;
}

// The words of each word-valued key, in the order its help lists them.
constexpr std::array<Choice<LrScaling>, 5> kLrScalings = {
    {{"none", LrScaling::kNone},
     {"linear", LrScaling::kLinear},
     {"sqrt", LrScaling::kSqrt},
     {"linear_above", LrScaling::kLinearAbove},
     {"sqrt_above", LrScaling::kSqrtAbove}}};
constexpr std::array<Choice<LrDecay>, 3> kDecays = {
    {{"none", LrDecay::kNone}, {"cosine", LrDecay::kCosine}, {"step", LrDecay::kStep}}};
constexpr std::array<Choice<FactorMode>, 3> kFactorModes = {
    {{"auto", FactorMode::kAuto}, {"true", FactorMode::kOn}, {"false", FactorMode::kOff}}};
constexpr std::array<Choice<GradientSync>, 3> kGradientSyncs = {
    {{"allreduce", GradientSync::kAllreduce},
     {"sharded", GradientSync::kSharded},
     {"shm", GradientSync::kShm}}};

// Keys earlier versions read, with why they went: a config naming one
// stops with the reason instead of "unrecognised option". Not in --help.
po::options_description retired_keys() {
  po::options_description keys;
  const char* overlap =
      "was removed: sums started during backward measured slower than one allreduce after it "
      "(Open MPI's non-blocking collectives progress only inside MPI calls; docs/scaling.md, "
      "'Tried and dropped'); delete the key";
  for (const char* key : {"train.overlap", "train.overlap_chunks"}) {
    keys.add_options()(key, po::value<std::string>()->notifier([key, overlap](const std::string&) {
      throw Error(concat(key, " ", overlap));
    }));
  }
  return keys;
}

}  // namespace

const char* name_of(LrScaling scaling) {
  return name_of_choice(scaling, kLrScalings);
}
const char* name_of(LrDecay decay) {
  return name_of_choice(decay, kDecays);
}
const char* name_of(FactorMode mode) {
  return name_of_choice(mode, kFactorModes);
}

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
  double ratio =
      static_cast<double>(global_batch(world_size)) / static_cast<double>(lr_reference_batch);
  if (lr_scaling == LrScaling::kLinearAbove || lr_scaling == LrScaling::kSqrtAbove) {
    ratio = std::max(1.0, ratio);  // batches up to the reference keep learning_rate
  }
  double factor = 1.0;
  if (lr_scaling == LrScaling::kLinear || lr_scaling == LrScaling::kLinearAbove) factor = ratio;
  if (lr_scaling == LrScaling::kSqrt || lr_scaling == LrScaling::kSqrtAbove) {
    factor = std::sqrt(ratio);
  }
  return static_cast<float>(adam.learning_rate * factor);
}

namespace {

// How far training is through the epochs after the first `lead`: 0 at lead,
// 1 at the last epoch (1 when nothing follows the lead).
double progress_after(double epochs_done, double lead, std::size_t epochs) {
  const double span = static_cast<double>(epochs) - lead;
  return span > 0 ? std::min(1.0, (epochs_done - lead) / span) : 1.0;
}

// 1 at progress 0, falling as a half cosine to 0 at progress 1.
double half_cosine(double progress) {
  return 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace

float TrainConfig::learning_rate_at(int world_size, double epochs_done) const {
  double base = learning_rate(world_size);
  // The scaled excess over the reference rate ramps in, then anneals away
  // (Goyal et al.'s gradual warmup from the reference rate, then a cosine):
  // a rate that is not scaled up is untouched, bit for bit.
  const double reference = adam.learning_rate;
  if (lr_ramp_epochs > 0 && base > reference) {
    const double share = epochs_done < lr_ramp_epochs
                             ? epochs_done / lr_ramp_epochs
                             : half_cosine(progress_after(epochs_done, lr_ramp_epochs, epochs));
    base = reference + (base - reference) * share;
  }
  if (epochs_done < warmup_epochs) return static_cast<float>(base * epochs_done / warmup_epochs);
  const double progress = progress_after(epochs_done, warmup_epochs, epochs);
  if (decay == LrDecay::kCosine) {
    const double cosine = half_cosine(progress);
    return static_cast<float>(base * (min_lr_fraction + (1.0 - min_lr_fraction) * cosine));
  }
  if (decay == LrDecay::kStep) {
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
      << "train.lr_scaling = " << name_of(lr_scaling) << "\n"
      << "train.lr_reference_batch = " << lr_reference_batch << "\n"
      << "train.lr_ramp_epochs = " << lr_ramp_epochs << "\n"
      << "train.gradient_sync = " << gradient_sync_name(gradient_sync) << "\n"
      << "train.gradient_factors = " << name_of(gradient_factors) << "\n"
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
      << "schedule.decay = " << name_of(decay) << "\n"
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

constexpr std::size_t kMany = 1'000'000;  // epochs, checkpoints: a bound that catches typos
constexpr std::size_t kBatch = 1 << 20;
void add_run_keys(po::options_description& keys, TrainConfig& c);

// Every configuration key, as --section.key=value or in the INI file; number
// ranges are stated here, once (options.h). hidden receives model.hidden's text.
po::options_description config_keys(TrainConfig& c, std::string& hidden) {
  po::options_description keys("configuration keys (in the INI file, or as --section.key=value)");
  keys.add_options()("model.hidden", po::value(&hidden), "hidden ReLU widths, comma-separated");
  add_number(keys, "model.dropout", &c.dropout, from_below(0.0f, 1.0f),
             "dropout rate of hidden units (training only)");
  add_number(keys, "model.input_dropout", &c.input_dropout, from_below(0.0f, 1.0f),
             "dropout rate of input pixels");
  add_number(
      keys, "model.sparse_input_max_density", &c.sparse_input_max_density, between(0.0f, 1.0f),
      "first layer skips zero pixels in batches with at most this share of nonzeros; 0 = off");
  add_number(keys, "train.epochs", &c.epochs, between<std::size_t>(1, kMany),
             "epochs to train (in total, counting resumed ones)");
  add_number(keys, "train.batch_size", &c.batch_size, between<std::size_t>(1, kBatch),
             "samples per rank per step");
  add_number(keys, "train.global_batch_size", &c.global_batch_size, between<std::size_t>(0, kBatch),
             "samples per step over all ranks; 0 = batch_size * ranks");
  add_choice(
      keys, "train.lr_scaling", &c.lr_scaling, kLrScalings,
      "none | linear | sqrt in global batch / lr_reference_batch | linear_above | sqrt_above: "
      "the same, only for global batches beyond lr_reference_batch");
  add_number(keys, "train.lr_reference_batch", &c.lr_reference_batch,
             between<std::size_t>(1, kBatch),
             "global batch at which learning_rate applies unscaled");
  add_number(keys, "train.lr_ramp_epochs", &c.lr_ramp_epochs, at_least(0.0),
             "epochs over which a scaled-up rate's excess over learning_rate ramps in (it then "
             "anneals away by a cosine to the last epoch); 0 = the scaled rate throughout");
  add_choice(
      keys, "train.gradient_sync", &c.gradient_sync, kGradientSyncs,
      "allreduce (every rank updates all weights) | sharded (ZeRO-1: reduce-scatter, Adam on "
      "a slice, allgather) | shm (ZeRO-1 through node shared memory, hierarchical across "
      "nodes)");
  add_choice(keys, "train.gradient_factors", &c.gradient_factors, kFactorModes,
             "auto | true | false: under shm with the sparse input, the first kernel's gradient "
             "travels as its factors (the batch's nonzeros and dy), each rank forming its slice of "
             "the sum from them; auto: where that reads fewer bytes from peers than whole "
             "gradients");
  add_number(keys, "train.seed", &c.seed, at_least<std::uint64_t>(0),
             "seed of initialisation and shuffling");
  add_number(keys, "optimizer.learning_rate", &c.adam.learning_rate, above(0.0f),
             "Adam learning rate");
  add_number(keys, "optimizer.beta1", &c.adam.beta1, from_below(0.0f, 1.0f), "Adam beta1");
  add_number(keys, "optimizer.beta2", &c.adam.beta2, from_below(0.0f, 1.0f), "Adam beta2");
  add_number(keys, "optimizer.epsilon", &c.adam.epsilon, above(0.0f), "Adam epsilon");
  add_number(keys, "optimizer.weight_decay", &c.adam.weight_decay, at_least(0.0f),
             "decoupled weight decay (AdamW)");
  add_number(keys, "optimizer.max_norm", &c.max_norm, at_least(0.0f),
             "cap on each hidden unit's incoming weight norm; 0 = off");
  add_number(keys, "train.label_smoothing", &c.label_smoothing, from_below(0.0f, 1.0f),
             "label smoothing of the training targets");
  add_number(keys, "train.validation_size", &c.validation_size, at_least<std::size_t>(0),
             "digits held out of the end of /train for validation and best.h5; 0 = none");
  add_run_keys(keys, c);
  return keys;
}

// The schedule, augmentation, output, evaluation and runtime keys.
void add_run_keys(po::options_description& keys, TrainConfig& c) {
  add_number(keys, "schedule.warmup_epochs", &c.warmup_epochs, at_least(0.0),
             "linear warmup of the learning rate");
  add_choice(keys, "schedule.decay", &c.decay, kDecays, "none | cosine | step after warmup");
  add_number(keys, "schedule.min_lr_fraction", &c.min_lr_fraction, between(0.0, 1.0),
             "cosine floor as a fraction of the rate");
  add_number(keys, "schedule.step_epochs", &c.step_epochs, above(0.0),
             "step decay: epochs between drops");
  add_number(keys, "schedule.step_gamma", &c.step_gamma, above(0.0), "step decay: factor per drop");
  add_number(keys, "augment.rotate_degrees", &c.augment.rotate_degrees, between(0.0f, 180.0f),
             "random rotation range");
  add_number(keys, "augment.scale", &c.augment.scale, from_below(0.0f, 1.0f),
             "random scale range (1 +- s)");
  add_number(keys, "augment.shear_degrees", &c.augment.shear_degrees, from_below(0.0f, 90.0f),
             "random shear range");
  add_number(keys, "augment.translate", &c.augment.translate, between(0.0f, 28.0f),
             "random shift range in pixels");
  add_number(keys, "augment.elastic_alpha", &c.augment.elastic_alpha, between(0.0f, 28.0f),
             "elastic displacement in pixels; 0 = off");
  add_number(keys, "augment.elastic_grid", &c.augment.elastic_grid, between<std::size_t>(1, 16),
             "elastic field grid cells per side");
  add_number(keys, "output.checkpoint_every", &c.checkpoint_every, between<std::size_t>(1, kMany),
             "write checkpoint.h5 every N epochs");
  add_number(keys, "output.keep_checkpoints", &c.keep_checkpoints, between<std::size_t>(1, kMany),
             "numbered checkpoints kept in the run directory");
  add_number(keys, "output.progress_seconds", &c.progress_seconds, at_least(0.0),
             "seconds between progress lines within an epoch; 0 = none");
  add_number(keys, "eval.batch", &c.eval_batch, between<std::size_t>(1, kBatch),
             "samples per forward pass during evaluation");
  add_number(keys, "runtime.blas_threads", &c.blas_threads, between(1, 1024),
             "OpenBLAS threads per rank");
  keys.add_options()("runtime.flush_denormals", po::value(&c.flush_denormals),
                     "flush subnormal floats to zero (FTZ + DAZ) on every numeric thread");
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
  po::options_description keys = config_keys(c, hidden);
  po::options_description all;
  all.add(general).add(keys);
  std::ostringstream usage;
  usage << "usage: mpirun -np N dpmnist-train --config configs/seed.ini --data data/mnist.h5 --out "
           "runs/NAME\n"
        << all;
  args.usage = usage.str();
  const po::options_description retired = retired_keys();
  all.add(retired);
  keys.add(retired);

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
  return args;
}

}  // namespace dpmnist
