// The rest of an epoch: which training rows each rank takes, in what order and
// in which batches. A pure function of the run's settings and of the rows
// already trained this epoch, so a run resumed on any number of ranks finishes
// the epoch on exactly the digits not yet seen. No I/O, no communication.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dpmnist/core/shard.h"

namespace dpmnist {

struct EpochPlan {
  int rank = 0;                          // whose rows these are
  Range shard;                           // this rank's training rows [begin, end)
  std::vector<std::uint32_t> rows;       // [rows left here] offsets into shard, in training order
  std::vector<std::size_t> left;         // [size] rows each rank has left this epoch
  std::vector<std::size_t> local_batch;  // [size] each rank's full batch
  std::size_t steps = 0;                 // steps left: the most any rank needs

  // Rows of_rank takes at step k of this plan (fewer, or 0, once it runs short).
  std::size_t batch_at(int of_rank, std::size_t k) const;
  // Rows all ranks take together at step k: the denominator of the step's mean.
  std::size_t global_batch_at(std::size_t k) const;
  // This plan's rank's rows at step k, offsets into shard.
  std::span<const std::uint32_t> rows_at(std::size_t k) const;
};

// Rank r's order is its shard_range(train_count, r, size) shuffled by
// (seed, epoch, r), with the rows already trained left out; it takes batches of
// shard_range(global_batch, r, size).size(). With nothing trained this is the
// schedule of shard.h (steps_per_epoch, batch_at_step); with the rows an
// unchanged world trained before a stop, the rest of that same schedule.
// trained [train_count] in: 1 where the row was trained this epoch (empty: none).
EpochPlan plan_epoch(std::size_t train_count, std::size_t global_batch, int rank, int size,
                     std::uint64_t seed, std::uint64_t epoch,
                     std::span<const std::uint8_t> trained);

// [train_count]: 1 for the rows `size` ranks trained in the first `steps` steps
// of a fresh epoch (the schedule above with nothing trained): the progress of
// a checkpoint that recorded only its step (format_version 1).
std::vector<std::uint8_t> rows_trained_by_step(std::size_t train_count, std::size_t global_batch,
                                               int size, std::uint64_t seed, std::uint64_t epoch,
                                               std::size_t steps);

}  // namespace dpmnist
