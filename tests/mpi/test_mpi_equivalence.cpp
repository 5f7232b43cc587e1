// The key distributed test: K synchronised steps on N ranks, each with its
// slice of the global batch, equal K steps on one rank with the whole global
// batch. Both run in every process: the reference over MPI_COMM_SELF. Equal
// means bitwise where the arithmetic is the same (N = 1, dense first layer)
// and within the bound of support/error_bound.h everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "dpmnist/core/hash.h"
#include "dpmnist/core/shard.h"
#include "dpmnist/data/batch.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/train/epoch_plan.h"
#include "dpmnist/train/trainer.h"
#include "support/error_bound.h"
#include "support/fixtures.h"

using namespace dpmnist;

namespace {

const std::vector<std::size_t> kWidths = {784, 24, 10};

// epsilon = 1, large against these gradients (|g| < 0.1): Adam's update is
// then Lipschitz in them, |du/dg| <= lr/eps. At Keras's 1e-7 it is about
// lr sign(g), so reordering a sum near 0 can move a weight by 2 lr.
const AdamSettings kAdam{.learning_rate = 1e-3f, .epsilon = 1.0f};

struct RunResult {
  std::vector<float> params;
  double loss_sum = 0;
  std::size_t steps = 0;
  std::vector<float> initial_params;
  test::GradientTerms terms;  // over every step's batch and weights, when asked for
};

// One epoch over `count` digits as the trainer walks it (no shuffle): rank r
// takes rows shard.begin + step * local ... of its shard at each step.
// with_terms: also bound the float error of each step's gradient.
RunResult run(const Comm& comm, const Digits& digits, std::size_t count, std::size_t global_batch,
              int world_rank, int world_size, GradientSync sync, int ranks_per_node = 0,
              float sparse_input = 0, bool with_terms = false) {
  const std::vector<std::size_t>& widths = kWidths;
  // Wired as the trainer wires it (the same factory): with the sparse input,
  // shm sums the first kernel's gradient from every rank's factors.
  TrainConfig config;
  config.hidden = {widths[1]};
  config.adam = kAdam;
  config.gradient_sync = sync;
  config.gradient_factors = FactorMode::kOn;
  config.sparse_input_max_density = sparse_input;
  TrainingModel model(comm, config, global_batch, global_batch, ranks_per_node);
  Network& net = model.net;
  net.init_glorot(123);
  std::vector<float> x(global_batch * kImagePixels);
  std::vector<std::uint8_t> labels(global_batch);
  StepSeconds seconds;
  RunResult result;
  result.initial_params.assign(net.params().begin(), net.params().end());
  const std::size_t steps = steps_per_epoch(count, global_batch, world_size);
  result.steps = steps;
  for (std::size_t step = 0; step < steps; ++step) {
    // The rows this process feeds: its own slice (distributed), or every
    // rank's slice concatenated in rank order (the single-rank reference).
    std::vector<std::uint32_t> rows;
    for (int r = 0; r < world_size; ++r) {
      if (comm.size() > 1 && r != world_rank) continue;
      const Range shard = shard_range(count, r, world_size);
      const std::size_t local = shard_range(global_batch, r, world_size).size();
      const std::size_t b = batch_at_step(count, global_batch, r, world_size, step);
      for (std::size_t i = 0; i < b; ++i)
        rows.push_back(static_cast<std::uint32_t>(shard.begin + step * local + i));
    }
    gather_batch(digits, rows, x, labels);
    const std::size_t global = global_batch_at_step(count, global_batch, world_size, step);
    if (with_terms) {
      result.terms.merge(
          test::gradient_terms(widths, net.params(), x, labels, rows.size(), global));
    }
    const StepResult step_result = data_parallel_step(net, model.adam, x, labels, rows.size(),
                                                      global, model.step_options, seconds);
    result.loss_sum += step_result.loss.loss;
  }
  result.params.assign(net.params().begin(), net.params().end());
  return result;
}

void expect_equivalent(std::size_t count, std::size_t global_batch,
                       GradientSync sync = GradientSync::kAllreduce, int ranks_per_node = 0,
                       float sparse_input = 0) {
  const Comm world;
  const Comm self(MPI_COMM_SELF);
  const Digits digits = test::synthetic_digits(count, 5);
  const RunResult distributed = run(world, digits, count, global_batch, world.rank(), world.size(),
                                    sync, ranks_per_node, sparse_input);
  const RunResult single = run(self, digits, count, global_batch, world.rank(), world.size(),
                               GradientSync::kAllreduce, 0, 0, true);

  // The global batch's gradient is the same sum in both, only its order (over
  // ranks, reductions, the sparse or dense first layer) differs.
  const test::TrajectoryBound bound = test::adam_trajectory_bound(
      kAdam, single.steps, single.terms, test::gradient_rounding(single.terms, global_batch),
      single.initial_params);
  char what[160];
  std::snprintf(what, sizeof(what), "N=%d %s%s%s count=%zu global batch %zu: |w_N - w_1|",
                world.size(), gradient_sync_name(sync),
                ranks_per_node ? " (1 rank per virtual node)" : "",
                sparse_input > 0 ? " sparse input" : "", count, global_batch);
  EXPECT_TRUE(test::within_bound(world.rank(), what, distributed.params, single.params, bound));
  if (world.size() == 1 && sparse_input == 0) {
    EXPECT_TRUE(distributed.params == single.params) << "one rank runs the very same arithmetic";
  }
  EXPECT_TRUE(world.agree(hash_floats(distributed.params))) << "ranks must hold identical weights";
}

}  // namespace

TEST(DataParallel, StepsOnNRanksEqualStepsOnOneRankWithTheGlobalBatch) {
  expect_equivalent(96, 24);  // 4 steps
}

TEST(DataParallel, UnevenSlicesAndEmptyBatchesStillMatch) {
  // 30 samples, global batch 13: at 3 ranks local batches are 5,4,4 over
  // shards of 10, and at the last step rank 0 has nothing left.
  expect_equivalent(30, 13);
}

TEST(DataParallel, ShmOptimizerMatchesOneRankOnOneNodeAndAcrossVirtualNodes) {
  // All ranks on this machine's node: sums straight from shared memory.
  expect_equivalent(96, 24, GradientSync::kShm);
  expect_equivalent(30, 13, GradientSync::kShm);
  // One rank per "node": every slice also goes through the cross-node allreduce.
  expect_equivalent(96, 24, GradientSync::kShm, 1);
  expect_equivalent(30, 13, GradientSync::kShm, 1);
}

TEST(DataParallel, ShmFallsBackToShardedOnEveryRankWhenNodesDiffer) {
  // Virtual nodes of 2 ranks: at N = 3 they hold 2 and 1.
  const Comm world;
  const DistributedAdam adam(world, 1000, {}, GradientSync::kShm, 2);
  const GradientSync expected =
      world.size() % 2 == 0 || world.size() == 1 ? GradientSync::kShm : GradientSync::kSharded;
  EXPECT_EQ(adam.sync(), expected);
  EXPECT_TRUE(world.agree(static_cast<std::uint64_t>(adam.sync())));
}

TEST(DataParallel, SparseInputFirstLayerMatchesTheDenseSingleRank) {
  // The reference stays the dense sgemm on one rank.
  expect_equivalent(96, 24, GradientSync::kAllreduce, 0, 1.0f);
  expect_equivalent(30, 13, GradientSync::kShm, 0, 1.0f);
}

TEST(DataParallel, ShardedOptimizerMatchesOneRankToo) {
  // ZeRO-1: reduce-scatter, Adam on each rank's slice, allgather.
  expect_equivalent(96, 24, GradientSync::kSharded);
  expect_equivalent(30, 13, GradientSync::kSharded);
}

// A resumed epoch whose ranks have very different work left (rank 0's shard
// nearly done): each rank walks its own plan, and all must run the same number
// of synchronised steps, the short ones with empty batches. (A rank that
// stopped early would leave the others waiting in a sum: the test's timeout
// turns that red.)
TEST(DataParallel, RanksWithUnevenWorkLeftRunTheSameSteps) {
  const Comm world;
  const std::size_t count = 203;
  const Digits digits = test::synthetic_digits(count, 5);
  std::vector<std::uint8_t> trained(count, 0);
  const Range first = shard_range(count, 0, world.size());
  for (std::size_t i = first.begin; i + 3 < first.end; ++i) trained[i] = 1;  // 3 rows left there
  TrainConfig config;
  config.hidden = {8};
  config.gradient_sync = GradientSync::kAllreduce;
  const std::size_t global_batch = 4 * static_cast<std::size_t>(world.size());
  TrainingModel model(world, config, global_batch, global_batch, 0);
  model.net.init_glorot(1);
  const EpochPlan plan = plan_epoch(count, global_batch, world.rank(), world.size(), 7, 0, trained);
  std::vector<float> x(global_batch * kImagePixels);
  std::vector<std::uint8_t> labels(global_batch);
  StepSeconds seconds;
  std::size_t steps_run = 0;
  std::vector<std::int64_t> samples = {0};
  for (std::size_t k = 0; k < plan.steps; ++k) {
    std::vector<std::uint32_t> rows;
    for (std::uint32_t row : plan.rows_at(k))
      rows.push_back(static_cast<std::uint32_t>(plan.shard.begin + row));
    gather_batch(digits, rows, x, labels);
    data_parallel_step(model.net, model.adam, x, labels, rows.size(), plan.global_batch_at(k),
                       model.step_options, seconds);
    ++steps_run;
    samples[0] += static_cast<std::int64_t>(rows.size());
  }
  EXPECT_TRUE(world.agree(steps_run)) << "rank " << world.rank() << " ran " << steps_run;
  world.allreduce_sum(samples);
  EXPECT_EQ(samples[0], static_cast<std::int64_t>(count - (first.size() - 3)));
  EXPECT_TRUE(world.agree(hash_floats(model.net.params())));
}
