#include <gtest/gtest.h>

#include <vector>

#include "dpmnist/core/shard.h"

using namespace dpmnist;

TEST(Shard, CoversEverySampleExactlyOnceForCountsThatDoNotDivide) {
  for (std::size_t count : {0u, 1u, 7u, 100u, 56000u, 56001u, 59999u}) {
    for (int size : {1, 2, 3, 4, 6, 7, 9, 16}) {
      std::vector<int> owners(count, 0);
      std::size_t smallest = count, largest = 0, next = 0;
      for (int rank = 0; rank < size; ++rank) {
        const Range r = shard_range(count, rank, size);
        EXPECT_EQ(r.begin, next) << "shards must be contiguous and in rank order";
        next = r.end;
        for (std::size_t i = r.begin; i < r.end; ++i) ++owners[i];
        smallest = std::min(smallest, r.size());
        largest = std::max(largest, r.size());
      }
      EXPECT_EQ(next, count);
      for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(owners[i], 1) << "sample " << i;
      EXPECT_LE(largest - smallest, 1u) << "count " << count << " size " << size;
    }
  }
}

TEST(Shard, EveryStepIsTakenByAllRanksAndTheStepsCoverEachShard) {
  for (std::size_t count : {56000u, 1001u, 97u}) {
    for (std::size_t global_batch : {3u, 32u, 64u, 96u}) {
      for (int size : {1, 2, 3}) {
        if (global_batch < static_cast<std::size_t>(size)) continue;
        const std::size_t steps = steps_per_epoch(count, global_batch, size);
        std::size_t total = 0;
        for (int rank = 0; rank < size; ++rank) {
          std::size_t taken = 0;
          for (std::size_t s = 0; s < steps; ++s) {
            const std::size_t b = batch_at_step(count, global_batch, rank, size, s);
            EXPECT_LE(b, shard_range(global_batch, rank, size).size());
            taken += b;
          }
          EXPECT_EQ(taken, shard_range(count, rank, size).size()) << "rank " << rank;
          total += taken;
        }
        EXPECT_EQ(total, count);
        std::size_t by_step = 0;
        for (std::size_t s = 0; s < steps; ++s) {
          const std::size_t g = global_batch_at_step(count, global_batch, size, s);
          EXPECT_GT(g, 0u) << "no step may be empty on every rank";
          by_step += g;
        }
        EXPECT_EQ(by_step, count);
      }
    }
  }
}

TEST(Shard, UnevenShardsAtThreeRanks) {
  // 56000 = 18667 + 18667 + 18666: the last step is short, not skipped.
  EXPECT_EQ(shard_range(56000, 0, 3).size(), 18667u);
  EXPECT_EQ(shard_range(56000, 2, 3).size(), 18666u);
  const std::size_t steps = steps_per_epoch(56000, 96, 3);
  EXPECT_EQ(steps, 584u);  // ceil(18667 / 32)
  EXPECT_EQ(batch_at_step(56000, 96, 0, 3, steps - 1), 18667u - 583u * 32u);
  EXPECT_EQ(batch_at_step(56000, 96, 2, 3, steps - 1), 18666u - 583u * 32u);
}

TEST(Shard, RejectsAGlobalBatchSmallerThanTheWorld) {
  EXPECT_THROW(steps_per_epoch(100, 2, 3), std::exception);
  EXPECT_THROW(shard_range(10, 3, 3), std::exception);
}
