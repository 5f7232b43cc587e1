// NodeSum, the shared-memory sum under gradient_sync = shm: sums and
// gathers against closed forms, on the real node and on virtual nodes (so
// the cross-node allreduce runs too), with slices that do not divide evenly.
#include <gtest/gtest.h>

#include <vector>

#include "dpmnist/node_sum.h"
#include "dpmnist/rng.h"

using namespace dpmnist;

namespace {

// Rank r's addend at i: small integers, so float sums are exact.
float addend(int rank, std::size_t i) {
  return static_cast<float>((rank + 1) * 3 + static_cast<int>(i % 11));
}

void expect_sums(int ranks_per_node, std::size_t count, std::size_t tail) {
  const Comm world;
  Comm node = world.split_by_node(ranks_per_node);
  if (!NodeSum::nodes_are_even(world, node)) GTEST_SKIP() << "uneven virtual nodes";
  NodeSum sum(world, std::move(node), count, tail);
  std::span<float> mine = sum.buffer();
  ASSERT_EQ(mine.size(), count);
  for (int round = 0; round < 3; ++round) {  // buffers are reused round after round
    for (std::size_t i = 0; i < count; ++i) mine[i] = addend(world.rank(), i) * static_cast<float>(round + 1);
    const Range slice = sum.slice();
    std::vector<float> reduced(slice.size() + tail, -1.0f);
    sum.reduce(reduced);
    const double p = world.size();
    auto expected = [&](std::size_t i) {
      return static_cast<float>((3 * p * (p + 1) / 2 + p * static_cast<double>(i % 11)) *
                                (round + 1));
    };
    for (std::size_t k = 0; k < slice.size(); ++k) {
      ASSERT_EQ(reduced[k], expected(slice.begin + k)) << "round " << round << " index "
                                                        << slice.begin + k;
    }
    for (std::size_t t = 0; t < tail; ++t) {
      ASSERT_EQ(reduced[slice.size() + t], expected(count - tail + t)) << "tail " << t;
    }
    // Each rank "updates" its slice (here: writes the sums), then gathers.
    std::vector<float> values(count - tail, 0.0f);
    std::copy_n(reduced.begin(), slice.size(), values.begin() + slice.begin);
    sum.allgather(values);
    for (std::size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(values[i], expected(i)) << "round " << round << " gathered index " << i;
    }
  }
}

}  // namespace

TEST(NodeSum, SumsAndGathersOnTheRealNode) {
  expect_sums(0, 1001, 1);
  expect_sums(0, 5, 1);  // fewer elements than some ranks' slices need
}

TEST(NodeSum, SumsAndGathersAcrossVirtualNodesOfOneRank) {
  expect_sums(1, 1001, 1);
}

TEST(NodeSum, SumsAndGathersAcrossVirtualNodesOfTwoRanks) {
  expect_sums(2, 777, 2);  // skipped where the ranks do not split evenly
}

TEST(NodeSum, UnevenNodesAreReportedAlikeOnEveryRank) {
  const Comm world;
  const Comm node = world.split_by_node(2);
  const bool even = NodeSum::nodes_are_even(world, node);
  EXPECT_EQ(even, world.size() % 2 == 0 || world.size() == 1);
  EXPECT_TRUE(world.agree(even ? 1 : 0));
}
