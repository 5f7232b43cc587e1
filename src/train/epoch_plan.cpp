#include "dpmnist/train/epoch_plan.h"

#include <algorithm>
#include <numeric>

#include "dpmnist/core/error.h"
#include "dpmnist/core/rng.h"

namespace dpmnist {
namespace {

// Offsets [0, shard_size) in rank's epoch order.
std::vector<std::uint32_t> shuffled_shard(std::size_t shard_size, std::uint64_t seed,
                                          std::uint64_t epoch, int rank) {
  std::vector<std::uint32_t> order(shard_size);
  std::iota(order.begin(), order.end(), 0u);
  Rng rng(derive_seed({seed, epoch, static_cast<std::uint64_t>(rank)}));
  shuffle(std::span(order), rng);
  return order;
}

}  // namespace

std::size_t EpochPlan::batch_at(int of_rank, std::size_t k) const {
  const auto r = static_cast<std::size_t>(of_rank);
  const std::size_t begin = k * local_batch[r];
  return begin >= left[r] ? 0 : std::min(local_batch[r], left[r] - begin);
}

std::size_t EpochPlan::global_batch_at(std::size_t k) const {
  std::size_t total = 0;
  for (std::size_t r = 0; r < left.size(); ++r) total += batch_at(static_cast<int>(r), k);
  return total;
}

std::span<const std::uint32_t> EpochPlan::rows_at(std::size_t k) const {
  const std::size_t begin = std::min(k * local_batch[static_cast<std::size_t>(rank)], rows.size());
  return std::span(rows).subspan(begin, batch_at(rank, k));
}

EpochPlan plan_epoch(std::size_t train_count, std::size_t global_batch, int rank, int size,
                     std::uint64_t seed, std::uint64_t epoch,
                     std::span<const std::uint8_t> trained) {
  require(trained.empty() || trained.size() == train_count, "plan_epoch: progress over ",
          trained.size(), " rows for ", train_count, " training digits");
  EpochPlan plan;
  plan.rank = rank;
  plan.shard = shard_range(train_count, rank, size);
  for (int r = 0; r < size; ++r) {
    const std::size_t local = shard_range(global_batch, r, size).size();
    require(local > 0, "global batch ", global_batch, " gives rank ", r, " of ", size,
            " an empty batch; use a global batch of at least the number of ranks");
    const Range shard = shard_range(train_count, r, size);
    std::size_t done = 0;
    if (!trained.empty()) {
      done = static_cast<std::size_t>(
          std::count_if(trained.begin() + static_cast<std::ptrdiff_t>(shard.begin),
                        trained.begin() + static_cast<std::ptrdiff_t>(shard.end),
                        [](std::uint8_t t) { return t != 0; }));
    }
    plan.local_batch.push_back(local);
    plan.left.push_back(shard.size() - done);
    plan.steps = std::max(plan.steps, (plan.left.back() + local - 1) / local);
  }
  plan.rows = shuffled_shard(plan.shard.size(), seed, epoch, rank);
  if (!trained.empty()) {
    std::erase_if(plan.rows,
                  [&](std::uint32_t row) { return trained[plan.shard.begin + row] != 0; });
  }
  return plan;
}

std::vector<std::uint8_t> rows_trained_by_step(std::size_t train_count, std::size_t global_batch,
                                               int size, std::uint64_t seed, std::uint64_t epoch,
                                               std::size_t steps) {
  std::vector<std::uint8_t> trained(train_count, 0);
  for (int r = 0; r < size; ++r) {
    const EpochPlan plan = plan_epoch(train_count, global_batch, r, size, seed, epoch, {});
    for (std::size_t k = 0; k < std::min(steps, plan.steps); ++k) {
      for (std::uint32_t row : plan.rows_at(k)) trained[plan.shard.begin + row] = 1;
    }
  }
  return trained;
}

}  // namespace dpmnist
