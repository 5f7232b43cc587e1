// How samples and batches are divided among ranks: pure functions of
// (count, rank, size), testable without MPI. No I/O, no communication.
#pragma once

#include <cstddef>

namespace dpmnist {

struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
};

// Contiguous block of [0, count) owned by rank; the first count % size ranks
// get one extra, so sizes differ by at most one and every index is owned once.
Range shard_range(std::size_t count, int rank, int size);

// Steps per epoch when each rank r walks its shard of shard_range(count, r,
// size) in local batches of shard_range(global_batch, r, size).size(): the
// largest number over ranks, so every rank takes the same number of steps.
std::size_t steps_per_epoch(std::size_t count, std::size_t global_batch, int size);

// Samples rank takes at step (fewer, or zero, near the end of a short shard).
std::size_t batch_at_step(std::size_t count, std::size_t global_batch, int rank, int size,
                          std::size_t step);

// Samples all ranks together take at step: the denominator of the step's mean.
std::size_t global_batch_at_step(std::size_t count, std::size_t global_batch, int size,
                                 std::size_t step);

}  // namespace dpmnist
