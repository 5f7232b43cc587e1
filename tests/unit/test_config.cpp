#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "dpmnist/train/config.h"
#include "support/fixtures.h"

using namespace dpmnist;

namespace {

TrainArgs parse(std::vector<std::string> words) {
  words.insert(words.begin(), "dpmnist-train");
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());
  return parse_train_args(static_cast<int>(argv.size()), argv.data());
}

std::string write_ini(const std::string& text) {
  const std::string path = test::make_temp_dir("config") + "/test.ini";
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::vector<std::string>& words) {
  try {
    parse(words);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, SeedIniGivesTheSeedNotebookModel) {
  const TrainArgs args = parse(
      {"--config", DPMNIST_SOURCE_DIR "/configs/seed.ini", "--data", "d.h5", "--out", "runs/x"});
  EXPECT_EQ(args.config.widths(), (std::vector<std::size_t>{784, 128, 10}));
  EXPECT_EQ(args.config.epochs, 5u);
  EXPECT_EQ(args.config.batch_size, 32u);
  EXPECT_FLOAT_EQ(args.config.adam.learning_rate, 1e-3f);
  EXPECT_EQ(args.config.global_batch(2), 64u);
  // The rate rule (seed.ini's table says why): unscaled up to 2 ranks, linear beyond.
  EXPECT_EQ(args.config.learning_rate(2), 1e-3f);
  EXPECT_FLOAT_EQ(args.config.learning_rate(8), 4e-3f);
  EXPECT_EQ(args.config.lr_ramp_epochs, 3.0);
  const TrainConfig defaults;  // no --config: the same rule
  EXPECT_EQ(defaults.to_text(), args.config.to_text());
}

TEST(Config, CommandLineOverridesTheFile) {
  const std::string ini = write_ini("[train]\nepochs = 3\n[model]\nhidden = 64,32\n");
  const TrainArgs args = parse({"--config", ini, "--data", "d", "--out", "o", "--train.epochs=7"});
  EXPECT_EQ(args.config.epochs, 7u);
  EXPECT_EQ(args.config.widths(), (std::vector<std::size_t>{784, 64, 32, 10}));
}

TEST(Config, UnknownKeysAndBadValuesAreErrorsThatSayWhatWasExpected) {
  const std::string unknown = write_ini("[train]\nepoch = 3\n");
  EXPECT_NE(error_of({"--config", unknown, "--data", "d", "--out", "o"}).find("train.epoch"),
            std::string::npos);
  EXPECT_NE(error_of({"--data", "d", "--out", "o", "--train.epochs=many"}).find("train.epochs"),
            std::string::npos);
  EXPECT_NE(error_of({"--data", "d", "--out", "o", "--train.lr_scaling=cubic"})
                .find("none, linear, sqrt, linear_above or sqrt_above"),
            std::string::npos);
  EXPECT_NE(error_of({"--data", "d", "--out", "o", "--model.hidden=128,x"}).find("model.hidden"),
            std::string::npos);
  EXPECT_NE(error_of({"--data", "d", "--out", "o", "--train.epochs=0"}).find("[1, 1000000]"),
            std::string::npos);
  EXPECT_NE(error_of({"--out", "o"}).find("data"), std::string::npos);
  EXPECT_NE(error_of({"--config", "/nonexistent.ini", "--data", "d", "--out", "o"})
                .find("/nonexistent.ini"),
            std::string::npos);
}

TEST(Config, LearningRateScalesWithTheGlobalBatch) {
  TrainArgs args = parse(
      {"--data", "d", "--out", "o", "--train.lr_scaling=linear", "--train.lr_reference_batch=32"});
  EXPECT_FLOAT_EQ(args.config.learning_rate(1), 1e-3f);
  EXPECT_FLOAT_EQ(args.config.learning_rate(4), 4e-3f);
  args.config.lr_scaling = LrScaling::kSqrt;
  EXPECT_FLOAT_EQ(args.config.learning_rate(4), 2e-3f);
  args.config.global_batch_size = 32;  // held fixed: no scaling whatever the world size
  EXPECT_FLOAT_EQ(args.config.learning_rate(8), 1e-3f);
}

// The seed's rule: linear beyond a reference batch of 64, its excess over
// learning_rate ramped in over 1 epoch and annealed away by a cosine; by hand
// at 8 ranks (G = 256, 4 x 1e-3) over 5 epochs.
TEST(Config, ScaledExcessRampsInAndAnnealsAwayAndUnscaledRatesAreUntouched) {
  TrainArgs args = parse({"--data", "d", "--out", "o", "--train.lr_scaling=linear_above",
                          "--train.lr_reference_batch=64", "--train.lr_ramp_epochs=1"});
  const TrainConfig& c = args.config;
  EXPECT_FLOAT_EQ(c.learning_rate(1), 1e-3f);  // G = 32: below the reference, unscaled
  EXPECT_FLOAT_EQ(c.learning_rate(2), 1e-3f);
  EXPECT_FLOAT_EQ(c.learning_rate(8), 4e-3f);
  EXPECT_FLOAT_EQ(c.learning_rate_at(8, 0.0), 1e-3f);    // ramp from the reference rate
  EXPECT_FLOAT_EQ(c.learning_rate_at(8, 0.5), 2.5e-3f);  // 1 + 3 x 0.5
  EXPECT_FLOAT_EQ(c.learning_rate_at(8, 1.0), 4e-3f);
  EXPECT_FLOAT_EQ(c.learning_rate_at(8, 3.0), 2.5e-3f);  // half way through 4 epochs of cosine
  EXPECT_FLOAT_EQ(c.learning_rate_at(8, 5.0), 1e-3f);
  for (double e : {0.0, 0.3, 1.0, 2.7, 5.0}) {
    EXPECT_EQ(c.learning_rate_at(2, e), 1e-3f) << "an unscaled rate is not ramped, epoch " << e;
  }
  args.config.lr_scaling = LrScaling::kSqrtAbove;
  EXPECT_FLOAT_EQ(c.learning_rate(1), 1e-3f);
  EXPECT_FLOAT_EQ(c.learning_rate(8), 2e-3f);
  args.config.lr_scaling = LrScaling::kSqrt;  // plain sqrt scales below the reference too
  EXPECT_FLOAT_EQ(c.learning_rate(1), static_cast<float>(1e-3 * std::sqrt(0.5)));
}

TEST(Config, TextFormIsCanonicalAndDiffersWhenAValueDiffers) {
  const TrainArgs a = parse({"--data", "d", "--out", "o"});
  const TrainArgs b = parse({"--data", "d2", "--out", "o2"});
  const TrainArgs c = parse({"--data", "d", "--out", "o", "--train.seed=43"});
  EXPECT_EQ(a.config.to_text(), b.config.to_text());
  EXPECT_NE(a.config.to_text(), c.config.to_text());
}

TEST(Config, ScheduleWarmsUpLinearlyThenDecays) {
  TrainArgs args =
      parse({"--data", "d", "--out", "o", "--train.epochs=10", "--schedule.warmup_epochs=2",
             "--schedule.decay=cosine", "--schedule.min_lr_fraction=0.1"});
  const TrainConfig& c = args.config;
  EXPECT_FLOAT_EQ(c.learning_rate_at(1, 0.0), 0.0f);
  EXPECT_FLOAT_EQ(c.learning_rate_at(1, 1.0), 0.5e-3f);
  EXPECT_FLOAT_EQ(c.learning_rate_at(1, 2.0), 1e-3f);
  // Half way through the 8 decay epochs: cosine at pi/2 -> 0.1 + 0.9 * 0.5.
  EXPECT_NEAR(c.learning_rate_at(1, 6.0), 1e-3 * 0.55, 1e-9);
  EXPECT_NEAR(c.learning_rate_at(1, 10.0), 1e-4, 1e-9);
  args = parse({"--data", "d", "--out", "o", "--schedule.decay=step", "--schedule.step_epochs=3",
                "--schedule.step_gamma=0.5"});
  EXPECT_FLOAT_EQ(args.config.learning_rate_at(1, 2.9), 1e-3f);
  EXPECT_FLOAT_EQ(args.config.learning_rate_at(1, 3.0), 0.5e-3f);
  EXPECT_FLOAT_EQ(args.config.learning_rate_at(1, 6.5), 0.25e-3f);
  EXPECT_NE(error_of({"--data", "d", "--out", "o", "--schedule.decay=linear"}).find("cosine"),
            std::string::npos);
  EXPECT_NE(error_of({"--data", "d", "--out", "o", "--model.dropout=1"}).find("model.dropout"),
            std::string::npos);
}

TEST(Config, FlushDenormalsDefaultsOnAndCanBeTurnedOff) {
  EXPECT_TRUE(parse({"--data", "d", "--out", "o"}).config.flush_denormals);
  const TrainArgs off = parse({"--data", "d", "--out", "o", "--runtime.flush_denormals=false"});
  EXPECT_FALSE(off.config.flush_denormals);
  EXPECT_NE(off.config.to_text().find("runtime.flush_denormals = false"), std::string::npos);
  const std::string ini = write_ini("[runtime]\nflush_denormals = true\n");
  EXPECT_TRUE(parse({"--config", ini, "--data", "d", "--out", "o"}).config.flush_denormals);
  EXPECT_NE(error_of({"--data", "d", "--out", "o", "--runtime.flush_denormals=maybe"})
                .find("runtime.flush_denormals"),
            std::string::npos);
}

// Every bad number of the reliability report (issue 13), each refused before
// anything runs with the key, the text as given and the range.
TEST(Config, BadNumbersAreRefusedNamingKeyValueAndRange) {
  const std::pair<const char*, const char*> cases[] = {
      {"--train.epochs=-1", "train.epochs = '-1': expected an integer in [1, 1000000]"},
      {"--train.batch_size=-32", "train.batch_size = '-32': expected an integer in [1, 1048576]"},
      {"--train.global_batch_size=-64",
       "train.global_batch_size = '-64': expected an integer in [0, 1048576]"},
      {"--eval.batch=-1", "eval.batch = '-1': expected an integer in [1, 1048576]"},
      {"--output.keep_checkpoints=-1", "output.keep_checkpoints = '-1': expected an integer in"},
      {"--output.checkpoint_every=-1", "output.checkpoint_every = '-1': expected an integer in"},
      {"--train.lr_reference_batch=-1", "train.lr_reference_batch = '-1': expected an integer in"},
      {"--train.validation_size=-1", "train.validation_size = '-1': expected an integer >= 0"},
      {"--train.seed=18446744073709551616", "(out of range)"},
      {"--train.epochs=5x", "train.epochs = '5x'"},
      {"--train.epochs=2.5", "train.epochs = '2.5'"},
      {"--optimizer.learning_rate=nan", "optimizer.learning_rate = 'nan': expected a number > 0"},
      {"--optimizer.learning_rate=1e999", "optimizer.learning_rate = '1e999'"},
      {"--optimizer.beta2=1", "optimizer.beta2 = '1': expected a number in [0, 1)"},
      {"--model.dropout=-0.5", "model.dropout = '-0.5': expected a number in [0, 1)"},
      {"--runtime.blas_threads=0", "runtime.blas_threads = '0': expected an integer in [1, 1024]"},
  };
  for (const auto& [option, expected] : cases) {
    const std::string error = error_of({"--data", "d", "--out", "o", option});
    EXPECT_NE(error.find(expected), std::string::npos) << option << " gave: " << error;
  }
  // The same check in the INI file, and a good value with spaces and a sign is read.
  const std::string bad = write_ini("[train]\nbatch_size = -32\n");
  EXPECT_NE(
      error_of({"--config", bad, "--data", "d", "--out", "o"}).find("train.batch_size = '-32'"),
      std::string::npos);
  const std::string good = write_ini("[train]\nbatch_size =  +16 \nepochs = 7\n");
  const TrainArgs args = parse({"--config", good, "--data", "d", "--out", "o"});
  EXPECT_EQ(args.config.batch_size, 16u);
  EXPECT_EQ(args.config.epochs, 7u);
}
