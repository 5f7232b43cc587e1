// Data-parallel training: every rank runs forward/backward on its own shard,
// one allreduce averages the flat gradient buffer over the GLOBAL batch, and
// the same Adam step runs everywhere, so weights stay bitwise identical.
// Every rank calls every function here in the same order (they are collective).
#pragma once

#include <cstddef>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "dpmnist/data/metrics.h"
#include "dpmnist/nn/network.h"
#include "dpmnist/nn/softmax_cross_entropy.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/parallel/distributed_adam.h"
#include "dpmnist/train/config.h"

namespace dpmnist {

// Seconds this rank spent in each phase, summed over steps.
struct StepSeconds {
  double data = 0, forward = 0, backward = 0, comm = 0, optimizer = 0;
};

struct StepResult {
  LossSum loss;       // this rank's (unscaled) loss sum and correct count
  bool stop = false;  // some rank asked to stop: every rank sees the same value
};

// What a step does besides the plain forward/backward/sum/Adam.
struct StepOptions {
  bool stop_requested = false;     // this rank's vote, carried as the control word
  std::uint64_t dropout_seed = 0;  // masks of this step (used when the network has dropout)
  float label_smoothing = 0;
  float max_norm = 0;  // > 0: cap hidden units' incoming weight norms after the step
};

// One synchronised step. x [B,784] and labels [B] are this rank's batch (B may
// be 0 near the end of a short shard: it still runs through, so every rank
// reports the same gradient ranges and joins the same sums); global_batch is
// the number of samples all ranks take together this step. Zeroes the
// gradients, accumulates this rank's share scaled by 1/global_batch, then lets
// the optimizer sum over ranks and step. Adds times to seconds.
StepResult data_parallel_step(Network& net, DistributedAdam& optimizer, std::span<const float> x,
                              std::span<const std::uint8_t> labels, std::size_t batch,
                              std::size_t global_batch, const StepOptions& options,
                              StepSeconds& seconds);

// The network and its optimizer as dpmnist-train wires them: dropout and the
// sparse first layer, the gradient sum (train.gradient_sync, with its
// fallback), the first kernel's gradient as factors where they pay, and the
// step options. The tests build theirs here too.
struct TrainingModel {
  // max_batch: the largest batch forward will see (training or evaluation).
  TrainingModel(const Comm& comm, const TrainConfig& config, std::size_t global_batch,
                std::size_t max_batch, int ranks_per_node);
  // "gradients: shm, first layer ...": how the sum runs, for the banner.
  std::string describe_gradients() const;
  // Why the sum that runs is not the one asked for ("" when it is).
  std::string fallback_note() const;

  Network net;
  DistributedAdam adam;
  StepOptions step_options;  // label smoothing, max norm (per-step fields unset)

 private:
  GradientSync requested_sync_;
  bool auto_factors_ = false;
  float sparse_density_ = 0;
  int world_size_ = 1;
};

struct TrainResult {
  std::vector<EpochMetrics> history;  // every epoch, resumed ones included
  std::vector<float> params;          // final weights (identical on every rank)
  bool stopped = false;               // a stop signal ended the run early, after a checkpoint
};

// The end-of-run table: each phase's seconds per epoch (min/median/max over
// ranks), averaged over the history rows from first_epoch on.
void print_phase_summary(const std::vector<EpochMetrics>& history, std::size_t first_epoch,
                         std::ostream& log);

// The whole run of dpmnist-train: load shards, initialise or resume, train,
// evaluate and checkpoint each epoch. Rank 0 writes files and prints to log.
// A SIGUSR1/SIGTERM (see stop_signal.h) on any rank ends it at the next step
// with a checkpoint and stopped = true.
TrainResult run_training(const Comm& comm, const TrainArgs& args, std::ostream& log);

}  // namespace dpmnist
