#include "dpmnist/core/shard.h"

#include <algorithm>

#include "dpmnist/core/error.h"

namespace dpmnist {

Range shard_range(std::size_t count, int rank, int size) {
  require(size > 0 && rank >= 0 && rank < size, "shard_range: rank ", rank, " outside [0,", size,
          ")");
  const auto r = static_cast<std::size_t>(rank);
  const auto p = static_cast<std::size_t>(size);
  const std::size_t base = count / p, extra = count % p;
  const std::size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

std::size_t steps_per_epoch(std::size_t count, std::size_t global_batch, int size) {
  std::size_t steps = 0;
  for (int r = 0; r < size; ++r) {
    const std::size_t local = shard_range(global_batch, r, size).size();
    require(local > 0, "global batch ", global_batch, " gives rank ", r, " of ", size,
            " an empty batch; use a global batch of at least the number of ranks");
    const std::size_t shard = shard_range(count, r, size).size();
    steps = std::max(steps, (shard + local - 1) / local);
  }
  return steps;
}

std::size_t batch_at_step(std::size_t count, std::size_t global_batch, int rank, int size,
                          std::size_t step) {
  const std::size_t local = shard_range(global_batch, rank, size).size();
  const std::size_t shard = shard_range(count, rank, size).size();
  const std::size_t begin = step * local;
  return begin >= shard ? 0 : std::min(local, shard - begin);
}

std::size_t global_batch_at_step(std::size_t count, std::size_t global_batch, int size,
                                 std::size_t step) {
  std::size_t total = 0;
  for (int r = 0; r < size; ++r) total += batch_at_step(count, global_batch, r, size, step);
  return total;
}

}  // namespace dpmnist
