#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "dpmnist/core/rng.h"
#include "dpmnist/core/shard.h"
#include "dpmnist/train/epoch_plan.h"

using namespace dpmnist;

namespace {

constexpr std::uint64_t kSeed = 42;

// Adds each row rank's plan trains in its steps [from, to) to visits.
void count_visits(const EpochPlan& plan, std::size_t from, std::size_t to,
                  std::vector<int>& visits) {
  for (std::size_t k = from; k < std::min(to, plan.steps); ++k) {
    for (std::uint32_t row : plan.rows_at(k)) ++visits[plan.shard.begin + row];
  }
}

std::vector<std::uint8_t> as_flags(const std::vector<int>& visits) {
  std::vector<std::uint8_t> flags;
  for (int v : visits) flags.push_back(v > 0 ? 1 : 0);
  return flags;
}

// Every row visited exactly once, with the first offender named.
void expect_each_once(const std::vector<int>& visits, const std::string& what) {
  std::size_t missed = 0, twice = 0;
  for (int v : visits) {
    missed += v == 0;
    twice += v > 1;
  }
  EXPECT_EQ(missed, 0u) << what;
  EXPECT_EQ(twice, 0u) << what;
}

}  // namespace

TEST(EpochPlan, AFreshEpochIsTheShardSchedule) {
  for (std::size_t count : {56000u, 1001u, 97u}) {
    for (std::size_t global_batch : {3u, 32u, 96u}) {
      for (int size : {1, 2, 3}) {
        for (int rank = 0; rank < size; ++rank) {
          const EpochPlan plan = plan_epoch(count, global_batch, rank, size, kSeed, 4, {});
          ASSERT_EQ(plan.steps, steps_per_epoch(count, global_batch, size));
          for (std::size_t k = 0; k < plan.steps; ++k) {
            ASSERT_EQ(plan.batch_at(rank, k), batch_at_step(count, global_batch, rank, size, k));
            ASSERT_EQ(plan.global_batch_at(k), global_batch_at_step(count, global_batch, size, k));
          }
          // The order of every earlier release: the shard shuffled by (seed, epoch, rank).
          std::vector<std::uint32_t> order(shard_range(count, rank, size).size());
          std::iota(order.begin(), order.end(), 0u);
          Rng rng(derive_seed({kSeed, 4, static_cast<std::uint64_t>(rank)}));
          shuffle(std::span(order), rng);
          ASSERT_EQ(plan.rows, order);
        }
      }
    }
  }
}

TEST(EpochPlan, HandComputedProgress) {
  // 10 rows on 2 ranks, batch 2 each; rows 0, 1 and 2 of rank 0's [0,5) trained.
  std::vector<std::uint8_t> trained(10, 0);
  trained[0] = trained[1] = trained[2] = 1;
  const EpochPlan plan = plan_epoch(10, 4, 0, 2, kSeed, 0, trained);
  EXPECT_EQ(plan.left, (std::vector<std::size_t>{2, 5}));
  EXPECT_EQ(plan.steps, 3u);  // rank 1's ceil(5 / 2)
  EXPECT_EQ(plan.batch_at(0, 0), 2u);
  EXPECT_EQ(plan.batch_at(0, 1), 0u);
  EXPECT_EQ(plan.batch_at(1, 2), 1u);
  EXPECT_EQ(plan.global_batch_at(0), 4u);
  EXPECT_EQ(plan.global_batch_at(2), 1u);
  ASSERT_EQ(plan.rows.size(), 2u);
  for (std::uint32_t row : plan.rows) EXPECT_GE(row, 3u);
}

TEST(EpochPlan, ResumedOnTheSameRanksTakesTheUninterruptedBatches) {
  for (std::size_t count : {1001u, 97u}) {
    for (std::size_t global_batch : {3u, 32u}) {
      for (int size : {1, 2, 3}) {
        const std::size_t steps = steps_per_epoch(count, global_batch, size);
        for (std::size_t stop : {std::size_t{1}, steps / 2, steps - 1}) {
          const auto trained = rows_trained_by_step(count, global_batch, size, kSeed, 2, stop);
          for (int rank = 0; rank < size; ++rank) {
            const EpochPlan fresh = plan_epoch(count, global_batch, rank, size, kSeed, 2, {});
            const EpochPlan rest = plan_epoch(count, global_batch, rank, size, kSeed, 2, trained);
            ASSERT_EQ(rest.steps, steps - stop);
            for (std::size_t k = 0; k < rest.steps; ++k) {
              const auto a = rest.rows_at(k), b = fresh.rows_at(stop + k);
              ASSERT_EQ(std::vector<std::uint32_t>(a.begin(), a.end()),
                        std::vector<std::uint32_t>(b.begin(), b.end()))
                  << "count " << count << " batch " << global_batch << " size " << size << " stop "
                  << stop << " rank " << rank << " step " << k;
              ASSERT_EQ(rest.global_batch_at(k), fresh.global_batch_at(stop + k));
            }
          }
        }
      }
    }
  }
}

// 2->1, 2->3, 3->2 and more, with the per-rank batch (the global batch
// follows the world) and with a fixed global batch: counted per row.
TEST(EpochPlan, ResumedOnOtherRanksTrainsEachRemainingRowOnce) {
  const std::size_t count = 2003;
  const std::pair<int, int> changes[] = {{2, 1}, {2, 3}, {3, 2}, {1, 4}, {5, 2}};
  for (auto [from, to] : changes) {
    for (bool fixed_global : {false, true}) {
      const std::size_t old_batch = fixed_global ? 64 : 8 * static_cast<std::size_t>(from);
      const std::size_t new_batch = fixed_global ? 64 : 8 * static_cast<std::size_t>(to);
      const std::size_t steps = steps_per_epoch(count, old_batch, from);
      for (std::size_t stop : {std::size_t{1}, steps / 3, steps - 1}) {
        const auto trained = rows_trained_by_step(count, old_batch, from, kSeed, 1, stop);
        std::vector<int> visits(trained.begin(), trained.end());
        std::size_t left = 0, steps_left = 0;
        for (int rank = 0; rank < to; ++rank) {
          const EpochPlan plan = plan_epoch(count, new_batch, rank, to, kSeed, 1, trained);
          count_visits(plan, 0, plan.steps, visits);
          left += plan.rows.size();
          steps_left = plan.steps;
          for (std::size_t k = 0; k < plan.steps; ++k) {
            ASSERT_LE(plan.batch_at(rank, k), shard_range(new_batch, rank, to).size());
            ASSERT_GT(plan.global_batch_at(k), 0u) << "no step may be empty on every rank";
          }
        }
        const std::string what = std::to_string(from) + "->" + std::to_string(to) + " stop " +
                                 std::to_string(stop) + (fixed_global ? " fixed" : " per-rank");
        expect_each_once(visits, what);
        EXPECT_EQ(left,
                  count - static_cast<std::size_t>(std::count(trained.begin(), trained.end(), 1)));
        EXPECT_GT(steps_left, 0u) << what;
      }
    }
  }
}

TEST(EpochPlan, TwoResumesInOneEpochStillTrainEachRowOnce) {
  // 2 ranks stop at step 40, 3 ranks go on and stop 30 steps later, 1 rank ends the epoch.
  const std::size_t count = 2003;
  std::vector<int> visits(count, 0);
  for (int rank = 0; rank < 2; ++rank) {
    count_visits(plan_epoch(count, 16, rank, 2, kSeed, 0, {}), 0, 40, visits);
  }
  const auto after_first = as_flags(visits);
  for (int rank = 0; rank < 3; ++rank) {
    count_visits(plan_epoch(count, 24, rank, 3, kSeed, 0, after_first), 0, 30, visits);
  }
  const EpochPlan last = plan_epoch(count, 8, 0, 1, kSeed, 0, as_flags(visits));
  count_visits(last, 0, last.steps, visits);
  expect_each_once(visits, "2 -> 3 -> 1");
}

TEST(EpochPlan, RejectsProgressOfAnotherSize) {
  const std::vector<std::uint8_t> trained(99, 0);
  EXPECT_THROW(plan_epoch(100, 8, 0, 1, kSeed, 0, trained), std::exception);
}
