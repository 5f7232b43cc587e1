// NodeSum, the shared-memory sum under gradient_sync = shm: sums and
// gathers against closed forms, on the real node and on virtual nodes (so
// the cross-node allreduce runs too), with slices that do not divide evenly.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "dpmnist/node_sum.h"
#include "dpmnist/rng.h"

using namespace dpmnist;

namespace {

// Rank r's addend at i: small integers, so float sums are exact.
float addend(int rank, std::size_t i) {
  return static_cast<float>((rank + 1) * 3 + static_cast<int>(i % 11));
}

// With row_width > 0, rank q's row r (row_width floats from index 0, rows
// below max_rows) is zero, and described so, when (r + q + round) % 3 == 0.
bool zero_row(int rank, std::size_t i, int round, std::size_t row_width, std::size_t max_rows) {
  if (row_width == 0 || i / row_width >= max_rows) return false;
  return (i / row_width + static_cast<std::size_t>(rank + round)) % 3 == 0;
}

void expect_sums(int ranks_per_node, std::size_t count, std::size_t tail, std::size_t row_width = 0,
                 std::size_t max_rows = 0) {
  const Comm world;
  Comm node = world.split_by_node(ranks_per_node);
  if (!NodeSum::nodes_are_even(world, node)) GTEST_SKIP() << "uneven virtual nodes";
  NodeSum sum(world, std::move(node), count, tail, row_width, max_rows);
  std::span<float> mine = sum.buffer();
  for (int round = 0; round < 3; ++round) {  // buffers are reused round after round
    const auto scale = static_cast<float>(round + 1);
    for (std::size_t i = 0; i < count; ++i) {
      const bool zero = zero_row(world.rank(), i, round, row_width, max_rows);
      mine[i] = zero ? 0.0f : addend(world.rank(), i) * scale;
    }
    std::vector<std::uint8_t> lit(max_rows);
    for (std::size_t r = 0; r < max_rows; ++r) {
      lit[r] = zero_row(world.rank(), r * row_width, round, row_width, max_rows) ? 0 : 1;
    }
    if (row_width > 0) sum.set_zero_rows(lit);
    const Range slice = sum.slice();
    std::vector<float> reduced(slice.size() + tail, -1.0f);
    sum.reduce(reduced);
    auto expected = [&](std::size_t i) {
      double total = 0;
      for (int q = 0; q < world.size(); ++q) {
        if (!zero_row(q, i, round, row_width, max_rows)) total += addend(q, i) * scale;
      }
      return static_cast<float>(total);
    };
    // Count mismatches and agree once per round: an early return on one rank
    // would leave the others waiting in the next collective.
    std::size_t wrong = 0;
    for (std::size_t k = 0; k < slice.size(); ++k) {
      wrong += reduced[k] != expected(slice.begin + k);
    }
    for (std::size_t t = 0; t < tail; ++t) {
      wrong += reduced[slice.size() + t] != expected(count - tail + t);
    }
    EXPECT_EQ(wrong, 0u) << "round " << round << ": wrong sums on rank " << world.rank();
    // Each rank "updates" its slice (here: writes the sums), then gathers.
    std::vector<float> values(count - tail, 0.0f);
    std::copy_n(reduced.begin(), slice.size(), values.begin() + slice.begin);
    sum.allgather(values);
    std::size_t wrong_gathered = 0;
    for (std::size_t i = 0; i < values.size(); ++i) wrong_gathered += values[i] != expected(i);
    EXPECT_EQ(wrong_gathered, 0u) << "round " << round << ": wrong gathered values on rank "
                                  << world.rank();
    EXPECT_FALSE(world.any(wrong + wrong_gathered > 0));
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
  expect_sums(2, 777, 2, 100, 7);
}

TEST(NodeSum, RowsDescribedAsZeroAreSkippedAndTheSumsStayExact) {
  expect_sums(0, 1001, 1, 64, 12);  // rows end inside some slices, the rest is undescribed
  expect_sums(1, 1001, 1, 64, 12);
}

TEST(NodeSum, UnevenNodesAreReportedAlikeOnEveryRank) {
  const Comm world;
  const Comm node = world.split_by_node(2);
  const bool even = NodeSum::nodes_are_even(world, node);
  EXPECT_EQ(even, world.size() % 2 == 0 || world.size() == 1);
  EXPECT_TRUE(world.agree(even ? 1 : 0));
}
