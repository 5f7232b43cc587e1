// run_training end to end on a tiny synthetic data file at N ranks: it learns,
// writes metrics and checkpoints, keeps ranks identical, and a run stopped
// after epoch k and resumed equals an uninterrupted run bitwise; runs that
// only sum in another order end within the bound of support/error_bound.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dpmnist/core/error.h"
#include "dpmnist/core/hash.h"
#include "dpmnist/core/shard.h"
#include "dpmnist/data/batch.h"
#include "dpmnist/data/checkpoint.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/train/config.h"
#include "dpmnist/train/stop_signal.h"
#include "dpmnist/train/trainer.h"
#include "support/error_bound.h"
#include "support/fixtures.h"

using namespace dpmnist;

namespace {

// A directory every rank agrees on: rank 0 makes it, the name is broadcast.
std::string shared_dir(const Comm& comm, const std::string& tag) {
  std::vector<std::uint8_t> name(512, 0);
  if (comm.rank() == 0) {
    const std::string dir = test::make_temp_dir(tag);
    std::memcpy(name.data(), dir.data(), std::min(dir.size(), name.size() - 1));
  }
  comm.broadcast(name);
  return reinterpret_cast<const char*>(name.data());
}

TrainArgs tiny_args(const std::string& data, const std::string& out, std::size_t epochs) {
  TrainArgs args;
  args.data_path = data;
  args.out_dir = out;
  args.config.hidden = {32};
  args.config.epochs = epochs;
  args.config.batch_size = 8;
  args.config.progress_seconds = 0;
  args.config.eval_batch = 16;
  return args;
}

// 203 train and 57 test digits: uneven shards at 2 and 3 ranks.
constexpr std::size_t kTrainCount = 203, kTestCount = 57;
constexpr std::uint64_t kDataSeed = 7;

std::string make_data(const Comm& comm, const std::string& dir) {
  const std::string path = dir + "/tiny.h5";
  if (comm.rank() == 0) test::write_synthetic_dataset(path, kTrainCount, kTestCount, kDataSeed);
  comm.barrier();
  return path;
}

// For runs compared against a derived bound (support/error_bound.h): Adam's
// epsilon = 1 makes its update Lipschitz in the gradients, and 34 per rank
// cuts the 203 digits into few, near-even batches (33 or 34 per rank), so
// the run is short (12, 6, 4 steps at N = 1, 2, 3) and bounds over unseen
// batches stay close to each batch's own. The gradients' Lipschitz constant
// L grows with depth (about 170 at hidden {32}, 2600 at {32, 512}; the bound
// prints it): the learning rate keeps K lr L / eps below 1/3, so the drift of
// the weights and what differences add through them stay first order.
// Set config.hidden first.
TrainArgs well_conditioned(TrainArgs args) {
  args.config.batch_size = 34;
  args.config.adam.epsilon = 1;
  args.config.adam.learning_rate = args.config.hidden.size() > 1 ? 1e-5f : 3e-4f;
  return args;
}

// The bound on |w_i - w'_i| between two runs of args that sum the same
// gradients in different orders. The trainer's shuffled batches are unseen
// here: any_batch_terms bounds every batch of the tiny file, at the final
// weights, widened to every weight the run can have passed through.
test::TrajectoryBound trainer_bound(const Comm& comm, const TrainArgs& args,
                                    const std::vector<float>& final_params) {
  const TrainConfig& config = args.config;
  const std::vector<std::size_t> widths = config.widths();
  const std::size_t global_batch = config.global_batch(comm.size());
  const std::size_t steps = steps_per_epoch(kTrainCount, global_batch, comm.size());
  std::size_t smallest_batch = global_batch;
  for (std::size_t step = 0; step < steps; ++step) {
    smallest_batch = std::min(smallest_batch,
                              global_batch_at_step(kTrainCount, global_batch, comm.size(), step));
  }
  const Digits digits = test::synthetic_digits(kTrainCount, kDataSeed);
  std::vector<float> x(kTrainCount * kImagePixels);
  std::vector<std::uint8_t> labels(kTrainCount);
  gather_rows(digits, 0, kTrainCount, x, labels);
  AdamSettings adam = config.adam;
  adam.learning_rate = config.learning_rate(comm.size());
  const test::GradientTerms at_end =
      test::any_batch_terms(widths, final_params, x, labels, kTrainCount, smallest_batch);
  const test::GradientTerms terms =
      at_end.widened(test::adam_drift(adam, config.epochs * steps, at_end));
  return test::adam_trajectory_bound(adam, config.epochs * steps, terms,
                                     test::gradient_rounding(terms, global_batch), final_params);
}

}  // namespace

TEST(Train, LearnsWritesFilesAndKeepsRanksIdentical) {
  const Comm comm;
  const std::string dir = shared_dir(comm, "train");
  const std::string data = make_data(comm, dir);
  std::ostringstream log;
  const TrainResult result = run_training(comm, tiny_args(data, dir + "/run", 4), log);
  ASSERT_EQ(result.history.size(), 4u);
  EXPECT_GT(result.history.back().test_acc, 0.9) << log.str();
  EXPECT_LT(result.history.back().train_loss, result.history.front().train_loss);
  EXPECT_EQ(result.history.back().world_size, comm.size());
  EXPECT_TRUE(comm.agree(hash_floats(result.params)));
  if (comm.rank() == 0) {
    const Checkpoint checkpoint = load_checkpoint(dir + "/run/checkpoint.h5");
    EXPECT_EQ(checkpoint.params, result.params);
    EXPECT_EQ(checkpoint.epoch, 4);
    EXPECT_EQ(checkpoint.world_size, comm.size());
    std::ifstream csv(dir + "/run/metrics.csv");
    std::string header, line;
    std::getline(csv, header);
    EXPECT_EQ(header.rfind("epoch,train_loss,train_acc,test_loss,test_acc,epoch_seconds", 0), 0u);
    int rows = 0;
    while (std::getline(csv, line)) ++rows;
    EXPECT_EQ(rows, 4);
    EXPECT_NE(log.str().find("epoch 4/4"), std::string::npos);
  }
}

TEST(Train, ResumeAfterEpochKEqualsAnUninterruptedRunBitwise) {
  const Comm comm;
  for (const GradientSync mode :
       {GradientSync::kAllreduce, GradientSync::kSharded, GradientSync::kShm}) {
    const std::string sync = gradient_sync_name(mode);
    const std::string dir = shared_dir(comm, "resume-" + sync);
    const std::string data = make_data(comm, dir);
    std::ostringstream log;
    auto args = [&](const std::string& out, std::size_t epochs) {
      TrainArgs a = tiny_args(data, dir + out, epochs);
      a.config.gradient_sync = mode;
      return a;
    };
    const TrainResult whole = run_training(comm, args("/whole", 3), log);
    run_training(comm, args("/part", 2), log);
    comm.barrier();  // rank 0 wrote part/checkpoint.h5; every rank reads it next
    TrainArgs resumed_args = args("/resumed", 3);
    resumed_args.resume = dir + "/part/checkpoint.h5";
    const TrainResult resumed = run_training(comm, resumed_args, log);
    EXPECT_EQ(resumed.params, whole.params)
        << sync << ": resume must replay the same batches and Adam state";
    ASSERT_EQ(resumed.history.size(), 3u);
    EXPECT_EQ(resumed.history[2].test_acc, whole.history[2].test_acc);
  }
}

TEST(Train, AStopSignalOnOneRankCheckpointsMidEpochAndResumeAutoEqualsUninterrupted) {
  const Comm comm;
  const std::string dir = shared_dir(comm, "stop");
  const std::string data = make_data(comm, dir);
  std::ostringstream log;
  const TrainResult whole = run_training(comm, tiny_args(data, dir + "/whole", 3), log);

  // Only the last rank is signalled; all must stop after the same step.
  install_stop_handlers();
  if (comm.rank() == comm.size() - 1) std::raise(SIGUSR1);
  TrainArgs args = tiny_args(data, dir + "/stopped", 3);
  args.resume = "auto";  // nothing there yet: starts fresh
  const TrainResult stopped = run_training(comm, args, log);
  reset_stop_signal();
  EXPECT_TRUE(stopped.stopped);
  EXPECT_TRUE(stopped.history.empty()) << "stopped after the first step of epoch 1";
  comm.barrier();
  if (comm.rank() == 0) {
    const Checkpoint mid = load_checkpoint(dir + "/stopped/checkpoint.h5");
    EXPECT_EQ(mid.epoch, 0);
    EXPECT_EQ(mid.step_in_epoch, 1);
    EXPECT_EQ(mid.global_step, 1);
  }
  const TrainResult resumed = run_training(comm, args, log);
  EXPECT_FALSE(resumed.stopped);
  EXPECT_EQ(resumed.params, whole.params) << "a mid-epoch resume must replay the same steps";
  ASSERT_EQ(resumed.history.size(), 3u);
  EXPECT_NEAR(resumed.history[0].train_loss, whole.history[0].train_loss, 1e-12);
  EXPECT_EQ(resumed.history[2].test_acc, whole.history[2].test_acc);
}

TEST(Train, RegularisedRunWithValidationResumesBitwiseAndKeepsTheBestModel) {
  // Dropout, input dropout, augmentation, label smoothing, max-norm, weight
  // decay, warmup + cosine, a held-out validation set: every random draw is
  // seeded by (seed, step, rank), so a stop and resume replays them exactly.
  const Comm comm;
  const std::string dir = shared_dir(comm, "regularised");
  const std::string data = make_data(comm, dir);
  auto args = [&](const std::string& out, std::size_t epochs) {
    TrainArgs a = tiny_args(data, dir + out, epochs);
    TrainConfig& c = a.config;
    c.dropout = 0.2f;
    c.input_dropout = 0.1f;
    c.label_smoothing = 0.1f;
    c.max_norm = 3.0f;
    c.adam.weight_decay = 1e-4f;
    c.warmup_epochs = 1;
    c.decay = LrDecay::kCosine;
    c.validation_size = 40;
    c.augment.rotate_degrees = 10;
    c.augment.translate = 1.5f;
    c.augment.elastic_alpha = 1.0f;
    return a;
  };
  std::ostringstream log;
  const TrainResult whole = run_training(comm, args("/whole", 3), log);
  ASSERT_EQ(whole.history.size(), 3u);
  EXPECT_GT(whole.history.back().val_acc, 0.2) << "better than chance (0.1)\n" << log.str();
  EXPECT_EQ(whole.history.back().steps_per_epoch,
            static_cast<std::int64_t>(steps_per_epoch(203 - 40, 8 * comm.size(), comm.size())));
  // learning_rate is the rate at each epoch's last step: near the end of the
  // one warmup epoch, then on the cosine down to 0 at the end of epoch 3.
  EXPECT_LT(whole.history[0].learning_rate, 1e-3) << "warmup";
  EXPECT_GT(whole.history[0].learning_rate, whole.history[1].learning_rate) << "cosine decay";
  EXPECT_GT(whole.history[1].learning_rate, whole.history[2].learning_rate) << "cosine decay";

  install_stop_handlers();
  if (comm.rank() == 0) std::raise(SIGUSR1);
  TrainArgs stopping = args("/stopped", 3);
  stopping.resume = "auto";
  const TrainResult stopped = run_training(comm, stopping, log);
  reset_stop_signal();
  EXPECT_TRUE(stopped.stopped);
  const TrainResult resumed = run_training(comm, stopping, log);
  EXPECT_EQ(resumed.params, whole.params) << "augmentation and dropout draws must replay";

  comm.barrier();
  if (comm.rank() == 0) {
    const Checkpoint best = load_checkpoint(dir + "/whole/best.h5");
    double best_val = 0;
    std::int64_t best_epoch = 0;
    for (const EpochMetrics& m : whole.history) {
      if (m.val_acc > best_val) best_val = m.val_acc, best_epoch = m.epoch;
    }
    EXPECT_EQ(best.epoch, best_epoch)
        << "best.h5 is the epoch with the highest validation accuracy";
  }
}

TEST(Train, AMissingDataFileIsAnErrorOnEveryRankNotAHang) {
  const Comm comm;
  const std::string dir = shared_dir(comm, "missing");
  std::ostringstream log;
  try {
    run_training(comm, tiny_args(dir + "/nope.h5", dir + "/run", 1), log);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.h5"), std::string::npos) << e.what();
  }
}

// The trainer's two-level sum: DPMNIST_RANKS_PER_NODE=1 makes every rank its
// own "node" (each slice also goes through the cross-node allreduce); =2 at
// N = 3 gives nodes of 2 and 1, where shm must fall back to sharded on every
// rank and say so. Both must end where the single-node run ends, up to float
// reordering (bitwise on one rank), with every rank holding the same weights.
TEST(Train, VirtualNodesAndTheUnevenNodeFallbackMatchTheSingleNodeRun) {
  const Comm comm;
  const std::string dir = shared_dir(comm, "nodes");
  const std::string data = make_data(comm, dir);
  std::ostringstream log;
  const TrainArgs one_node_args = well_conditioned(tiny_args(data, dir + "/node", 2));
  const TrainResult one_node = run_training(comm, one_node_args, log);
  const test::TrajectoryBound bound = trainer_bound(comm, one_node_args, one_node.params);
  for (const char* ranks_per_node : {"1", "2"}) {
    setenv("DPMNIST_RANKS_PER_NODE", ranks_per_node, 1);
    std::ostringstream virtual_log;
    const TrainResult split = run_training(
        comm, well_conditioned(tiny_args(data, dir + "/virtual" + ranks_per_node, 2)), virtual_log);
    unsetenv("DPMNIST_RANKS_PER_NODE");
    ASSERT_EQ(split.params.size(), one_node.params.size());
    EXPECT_TRUE(test::within_bound(comm.rank(),
                                   "N=" + std::to_string(comm.size()) + ", " + ranks_per_node +
                                       " rank(s) per virtual node: |w - w_one node|",
                                   split.params, one_node.params, bound));
    if (comm.size() == 1) {
      EXPECT_TRUE(split.params == one_node.params) << "one rank sums nothing across ranks";
    }
    EXPECT_TRUE(comm.agree(hash_floats(split.params)));
    // Groups of k consecutive ranks differ in size only if the last is cut short.
    const int k = std::atoi(ranks_per_node);
    const bool uneven = comm.size() > k && comm.size() % k != 0;
    if (comm.rank() == 0) {
      EXPECT_EQ(virtual_log.str().find("sharded runs instead") != std::string::npos, uneven)
          << virtual_log.str();
    }
  }
}

// train.gradient_factors: the first kernel's gradient formed by each rank, for
// its slice, from every rank's factors must end where summing whole gradient
// buffers ends (float reordering only), on every rank alike; the log says
// which ran (a rank alone never factors). Hidden {32, 512} puts the whole
// first kernel in rank 0's slice at np = 2, so every rank forms a share of its
// rows and hands them over. auto declines where factors would mean more bytes
// (100 samples per rank: every peer's dy outweighs the rows).
TEST(Train, FactoredFirstKernelSumMatchesSummingWholeGradients) {
  const Comm comm;
  const std::string dir = shared_dir(comm, "factors");
  const std::string data = make_data(comm, dir);
  const char* said = "summed from factors";
  for (const std::vector<std::size_t>& hidden : {std::vector<std::size_t>{32}, {32, 512}}) {
    std::ostringstream whole_log, factored_log;
    TrainArgs whole_args = tiny_args(data, dir + "/whole", 2);
    whole_args.config.hidden = hidden;
    whole_args.config.gradient_factors = FactorMode::kOff;
    whole_args = well_conditioned(whole_args);
    TrainArgs factored_args = tiny_args(data, dir + "/factored", 2);
    factored_args.config.hidden = hidden;
    factored_args.config.gradient_factors = FactorMode::kOn;
    factored_args = well_conditioned(factored_args);
    const TrainResult whole = run_training(comm, whole_args, whole_log);
    const TrainResult factored = run_training(comm, factored_args, factored_log);
    ASSERT_EQ(factored.params.size(), whole.params.size());
    EXPECT_TRUE(test::within_bound(
        comm.rank(),
        "N=" + std::to_string(comm.size()) + ", " + std::to_string(hidden.size()) +
            " hidden layer(s): |w_factored - w_whole|",
        factored.params, whole.params, trainer_bound(comm, whole_args, whole.params)));
    if (comm.size() == 1) {
      EXPECT_TRUE(factored.params == whole.params) << "a rank alone never factors";
    }
    EXPECT_TRUE(comm.agree(hash_floats(factored.params)));
    if (comm.rank() == 0) {
      EXPECT_EQ(factored_log.str().find(said) != std::string::npos, comm.size() > 1)
          << factored_log.str();
      EXPECT_EQ(whole_log.str().find(said), std::string::npos) << whole_log.str();
    }
  }
  std::ostringstream auto_log;
  TrainArgs big_batch = tiny_args(data, dir + "/auto", 1);
  big_batch.config.batch_size = 100;
  run_training(comm, big_batch, auto_log);
  if (comm.rank() == 0) {
    EXPECT_EQ(auto_log.str().find(said), std::string::npos) << auto_log.str();
    EXPECT_EQ(auto_log.str().find("summed whole") != std::string::npos, comm.size() > 1)
        << auto_log.str();
  }
}
