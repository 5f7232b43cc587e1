// Training configuration: the keys of configs/*.ini, parsed with
// Boost.Program_options from a config file plus command-line overrides
// (--section.key=value). Validation only; no training logic here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dpmnist/data/augment.h"
#include "dpmnist/nn/adam.h"
#include "dpmnist/parallel/gradient_sum.h"

namespace dpmnist {

// The word-valued keys, parsed once from their words (and written back as them).
// train.lr_scaling: none | linear | sqrt | linear_above | sqrt_above (the
// _above forms scale only global batches beyond lr_reference_batch).
enum class LrScaling { kNone, kLinear, kSqrt, kLinearAbove, kSqrtAbove };
enum class LrDecay { kNone, kCosine, kStep };  // schedule.decay: none | cosine | step
enum class FactorMode { kAuto, kOn, kOff };    // train.gradient_factors: auto | true | false
const char* name_of(LrScaling scaling);
const char* name_of(LrDecay decay);
const char* name_of(FactorMode mode);

struct TrainConfig {
  std::vector<std::size_t> hidden = {128};  // model.hidden: widths of the ReLU layers
  float dropout = 0;                        // model.dropout: hidden units
  float input_dropout = 0;                  // model.input_dropout: input pixels
  float sparse_input_max_density = 0.5f;    // model.sparse_input_max_density: 0 = dense GEMM
  std::size_t epochs = 5;                   // train.epochs
  std::size_t batch_size = 32;              // train.batch_size: per rank
  std::size_t global_batch_size = 0;        // train.global_batch_size: 0 = batch_size * ranks
  LrScaling lr_scaling = LrScaling::kLinearAbove;  // train.lr_scaling (seed.ini says why)
  std::size_t lr_reference_batch = 64;             // train.lr_reference_batch
  double lr_ramp_epochs = 3;  // train.lr_ramp_epochs: 0 = the scaled rate throughout
  GradientSync gradient_sync = GradientSync::kShm;  // train.gradient_sync
  FactorMode gradient_factors = FactorMode::kAuto;  // train.gradient_factors
  AdamSettings adam;                                // optimizer.*
  float max_norm = 0;                               // optimizer.max_norm: 0 = off
  float label_smoothing = 0;                        // train.label_smoothing
  std::size_t validation_size = 0;                  // train.validation_size: held out of /train
  double warmup_epochs = 0;                         // schedule.warmup_epochs
  LrDecay decay = LrDecay::kNone;                   // schedule.decay
  double min_lr_fraction = 0;                       // schedule.min_lr_fraction (cosine floor)
  double step_epochs = 10;                          // schedule.step_epochs
  double step_gamma = 0.1;                          // schedule.step_gamma
  AugmentSettings augment;                          // augment.*
  std::uint64_t seed = 42;                          // train.seed
  std::size_t checkpoint_every = 1;                 // output.checkpoint_every (epochs)
  std::size_t keep_checkpoints = 3;                 // output.keep_checkpoints
  double progress_seconds = 5.0;                    // output.progress_seconds
  std::size_t eval_batch = 1000;                    // eval.batch
  int blas_threads = 1;                             // runtime.blas_threads
  bool flush_denormals = true;                      // runtime.flush_denormals (FTZ + DAZ)

  // {784, hidden..., 10}
  std::vector<std::size_t> widths() const;
  // Global batch for a world size, and each rank's share of it.
  std::size_t global_batch(int world_size) const;
  // Adam's learning rate after lr_scaling for this world size's global batch.
  float learning_rate(int world_size) const;
  // The scheduled rate at `epochs_done` (fractional: 2.5 = half way through
  // epoch 3): linear warmup from 0, then the decay, on learning_rate(world_size),
  // of which the part above optimizer.learning_rate ramps in over
  // lr_ramp_epochs and anneals away by a cosine to the last epoch (where set).
  float learning_rate_at(int world_size, double epochs_done) const;
  // Canonical "section.key = value" lines: stored in checkpoints, hashed so
  // that ranks can check they agree.
  std::string to_text() const;
};

// "512,256" -> {512, 256}; throws naming the text unless every item is a
// width in [1, 65536] (the model.hidden syntax).
std::vector<std::size_t> parse_widths(const std::string& text);

struct TrainArgs {
  TrainConfig config;
  std::string config_path;  // --config
  std::string data_path;    // --data
  std::string out_dir;      // --out
  std::string resume;       // --resume: a checkpoint path, "auto", or empty
  bool help = false;
  std::string usage;
};

// Parses dpmnist-train's command line (and the --config file it names).
// Throws Error naming the option, the value seen and what was expected.
TrainArgs parse_train_args(int argc, const char* const argv[]);

}  // namespace dpmnist
