// Data-parallel training: every rank runs forward/backward on its own shard,
// one allreduce averages the flat gradient buffer over the GLOBAL batch, and
// the same Adam step runs everywhere, so weights stay bitwise identical.
// Every rank calls every function here in the same order (they are collective).
#pragma once

#include <cstddef>
#include <ostream>
#include <span>
#include <vector>

#include "dpmnist/comm.h"
#include "dpmnist/config.h"
#include "dpmnist/distributed_adam.h"
#include "dpmnist/metrics.h"
#include "dpmnist/network.h"
#include "dpmnist/softmax_cross_entropy.h"

namespace dpmnist {

// Seconds this rank spent in each phase, summed over steps.
struct StepSeconds {
  double data = 0, forward = 0, backward = 0, comm = 0, optimizer = 0;
};

struct StepResult {
  LossSum loss;       // this rank's (unscaled) loss sum and correct count
  bool stop = false;  // some rank asked to stop: every rank sees the same value
};

// One synchronised step. x [B,784] and labels [B] are this rank's batch (B may
// be 0 near the end of a short shard); global_batch is the number of samples
// all ranks take together this step. Zeroes the gradients, accumulates this
// rank's share scaled by 1/global_batch, then lets the optimizer sum over
// ranks (with this rank's stop request as the control word) and step. With
// overlap_chunks > 0 the sums start during backward: the later layers' first,
// then the first layer's kernel in that many row blocks. Adds times to seconds.
StepResult data_parallel_step(Network& net, DistributedAdam& optimizer, std::span<const float> x,
                              std::span<const std::uint8_t> labels, std::size_t batch,
                              std::size_t global_batch, bool stop_requested,
                              std::size_t overlap_chunks, StepSeconds& seconds);

struct TrainResult {
  std::vector<EpochMetrics> history;  // every epoch, resumed ones included
  std::vector<float> params;          // final weights (identical on every rank)
  bool stopped = false;  // a stop signal ended the run early, after a checkpoint
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
