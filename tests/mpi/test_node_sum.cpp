// NodeSum, the shared-memory sum under gradient_sync = shm: sums and
// gathers against closed forms, on the real node and on virtual nodes (so
// the cross-node allreduce runs too), with slices that do not divide evenly,
// and with a formed prefix: addends whose first rows come as factors x^T dy,
// packed as side data and formed by sparse_factor_grad, as ShmSum does.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/nn/sparse_input.h"
#include "dpmnist/parallel/gradient_sum.h"
#include "dpmnist/parallel/node_sum.h"

using namespace dpmnist;

namespace {

// Rank r's addend at i: small integers, so float sums are exact.
float addend(int rank, std::size_t i) {
  return static_cast<float>((rank + 1) * 3 + static_cast<int>(i % 11));
}

// Rank q's factors in a round: x [B, rows] (about a third nonzero) and
// dy [B, width], small integers, so every product and sum is exact. The
// batch varies by rank and round, and is 0 for some (an empty shard).
struct Factors {
  std::size_t batch = 0;
  std::vector<float> x, dy;
};
Factors factors_of_rank(int q, int round, const FactorShape& shape) {
  Factors f;
  f.batch = static_cast<std::size_t>(q + round) % (shape.max_batch + 1);
  f.x.resize(f.batch * shape.rows);
  f.dy.resize(f.batch * shape.width);
  for (std::size_t k = 0; k < f.x.size(); ++k) {
    const std::size_t h = (k * 7 + static_cast<std::size_t>(q * 5 + round)) % 9;
    f.x[k] = h < 3 ? static_cast<float>(h + 1) : 0.0f;
  }
  for (std::size_t k = 0; k < f.dy.size(); ++k) {
    f.dy[k] = static_cast<float>(static_cast<int>((k + static_cast<std::size_t>(q)) % 5) - 2);
  }
  return f;
}

// expected = sum over ranks of each rank's addend: x^T dy on the factored
// floats (a plain triple loop here), addend() * scale on the rest.
std::vector<double> expected_sums(int ranks, std::size_t count, int round,
                                  const FactorShape& shape) {
  const double scale = round + 1;
  std::vector<double> total(count, 0.0);
  const std::size_t factored = shape.rows * shape.width;
  for (int q = 0; q < ranks; ++q) {
    const Factors f = factors_of_rank(q, round, shape);
    for (std::size_t b = 0; b < f.batch; ++b) {
      for (std::size_t i = 0; i < shape.rows; ++i) {
        for (std::size_t o = 0; o < shape.width; ++o) {
          total[i * shape.width + o] += double{f.x[b * shape.rows + i]} * f.dy[b * shape.width + o];
        }
      }
    }
    for (std::size_t i = factored; i < count; ++i) total[i] += addend(q, i) * scale;
  }
  return total;
}

void expect_sums(int ranks_per_node, std::size_t count, std::size_t tail, FactorShape shape = {}) {
  const Comm world;
  Comm node = world.split_by_node(ranks_per_node);
  if (!NodeSum::nodes_are_even(world, node)) GTEST_SKIP() << "uneven virtual nodes";
  NodeSum sum(world, std::move(node), count, tail,
              {shape.rows * shape.width, shape.words(), shape.floats()});
  EXPECT_EQ(sum.has_prefix(), shape.rows > 0);
  // The prefix's floats `range`, from every rank's packed factors.
  std::vector<GradientFactors> parts;
  const FormPrefix form = [&](std::span<const SideData> peers, Range range, std::span<float> out) {
    parts.clear();
    for (const SideData& peer : peers) {
      parts.push_back(unpack_factors(shape, peer.words, peer.floats));
    }
    sparse_factor_grad(parts, shape.rows, shape.width, range.begin, range.end, out);
  };
  std::span<float> mine = sum.buffer();
  SparseBatch sparse;
  if (shape.rows > 0) sparse.reserve(shape.max_batch, shape.rows);
  for (int round = 0; round < 3; ++round) {  // buffers are reused round after round
    const auto scale = static_cast<float>(round + 1);
    const std::size_t factored = shape.rows * shape.width;
    // The factored floats of the buffer are not part of the addend: poison them.
    for (std::size_t i = 0; i < factored; ++i) mine[i] = std::nanf("");
    for (std::size_t i = factored; i < count; ++i) mine[i] = addend(world.rank(), i) * scale;
    const Factors f = factors_of_rank(world.rank(), round, shape);
    if (shape.rows > 0) {
      sparse_batch_build_rows(f.x, f.batch, shape.rows, sparse);
      sparse_batch_build_columns(sparse);
      pack_factors(factors_of(sparse, f.dy), shape, sum.side_words(), sum.side_floats());
    }
    const Range slice = sum.slice();
    std::vector<float> reduced(slice.size() + tail, -1.0f);
    if (shape.rows > 0) {
      sum.reduce(reduced, form);
    } else {
      sum.reduce(reduced);
    }
    const std::vector<double> expected = expected_sums(world.size(), count, round, shape);
    // Count mismatches and agree once per round: an early return on one rank
    // would leave the others waiting in the next collective.
    std::size_t wrong = 0;
    for (std::size_t k = 0; k < slice.size(); ++k) {
      wrong += reduced[k] != expected[slice.begin + k];
    }
    for (std::size_t t = 0; t < tail; ++t) {
      wrong += reduced[slice.size() + t] != expected[count - tail + t];
    }
    EXPECT_EQ(wrong, 0u) << "round " << round << ": wrong sums on rank " << world.rank();
    // Each rank "updates" its slice (here: writes the sums), then gathers.
    std::vector<float> values(count - tail, 0.0f);
    std::copy_n(reduced.begin(), slice.size(), values.begin() + slice.begin);
    sum.allgather(values);
    std::size_t wrong_gathered = 0;
    for (std::size_t i = 0; i < values.size(); ++i) wrong_gathered += values[i] != expected[i];
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
  expect_sums(2, 777, 2, {7, 100, 3});
}

TEST(NodeSum, FactoredRowsAreFormedFromEveryRanksFactorsExactly) {
  // Rows of 150 floats (a full 128-float block and a partial one) end inside
  // slices; the rest of the addend is summed whole. Batches 0..3.
  expect_sums(0, 1001, 1, {6, 150, 3});
  expect_sums(1, 1001, 1, {6, 150, 3});
  expect_sums(0, 5, 1, {2, 2, 2});  // everything factored but the tail
}

TEST(NodeSum, FactoredRowsOwnedByFewRanksAreFormedByAllAndHandedOver) {
  // 300 factored floats of 1000: from 2 ranks on, rank 0's slice holds them
  // all, so every rank forms an even share of the rows for their owner.
  expect_sums(0, 1001, 1, {2, 150, 3});
  expect_sums(2, 1001, 1, {2, 150, 3});  // on virtual nodes of 2 ranks too
}

TEST(NodeSum, FactorsAreChosenWhereTheyReadFewerBytes) {
  // k B W + 2 B R d < R W, by hand: the seed model (R 784, W 128, B 32,
  // d 0.5) gives 18 x 4096 + 25088 = 98816 < 100352, 19 ranks 102912 >.
  EXPECT_TRUE(factors_are_smaller({784, 128, 32}, 1, 0.5));
  EXPECT_TRUE(factors_are_smaller({784, 128, 32}, 18, 0.5));
  EXPECT_FALSE(factors_are_smaller({784, 128, 32}, 19, 0.5));
  // The wide model's first layer at 64 per rank: 11 x 65536 + 50176 < 802816.
  EXPECT_TRUE(factors_are_smaller({784, 1024, 64}, 11, 0.5));
  EXPECT_FALSE(factors_are_smaller({784, 1024, 64}, 12, 0.5));
}

TEST(NodeSum, MisusedFactorsAreReportedWithTheirSizes) {
  const Comm world;
  const FactorShape shape{4, 10, 2};
  std::vector<std::uint32_t> words(shape.words());
  std::vector<float> floats(shape.floats());
  const std::vector<std::uint32_t> start(5, 0);
  const std::vector<float> dy(30, 1.0f);  // batch 3 > max batch 2
  EXPECT_THROW(pack_factors({start, {}, {}, dy}, shape, words, floats), Error);
  EXPECT_THROW(pack_factors({start, {}, {}, {}}, shape, words, std::span(floats).first(3)), Error);
  // More nonzeros than a batch of 1 has entries (4).
  const std::vector<std::uint32_t> crowded = {0, 2, 4, 5, 5};
  const std::vector<std::uint32_t> rows(5, 0);
  const std::vector<float> values(5, 1.0f), one_row(10, 1.0f);
  EXPECT_THROW(pack_factors({crowded, rows, values, one_row}, shape, words, floats), Error);
  // A prefix longer than the summed part, and a reduce of a prefix without
  // its callback: both throw on every rank alike, before any fence.
  EXPECT_THROW(NodeSum(world, world.split_by_node(), 30, 1, {40, 0, 0}), Error);  // 40 > 29
  NodeSum prefixed(world, world.split_by_node(), 100, 1, {40, shape.words(), shape.floats()});
  std::vector<float> sum(prefixed.slice().size() + 1);
  EXPECT_THROW(prefixed.reduce(sum), Error);
}

TEST(NodeSum, UnevenNodesAreReportedAlikeOnEveryRank) {
  const Comm world;
  const Comm node = world.split_by_node(2);
  const bool even = NodeSum::nodes_are_even(world, node);
  EXPECT_EQ(even, world.size() % 2 == 0 || world.size() == 1);
  EXPECT_TRUE(world.agree(even ? 1 : 0));
}
