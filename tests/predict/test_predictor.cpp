// The predictor: the same answers as the training library's Network and
// evaluate_digits (what dpmnist-eval reports), model information from the
// checkpoint, and identical answers from many threads at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "dpmnist/core/error.h"
#include "dpmnist/data/batch.h"
#include "dpmnist/nn/network.h"
#include "dpmnist/nn/softmax_cross_entropy.h"
#include "dpmnist/predict/predictor.h"
#include "dpmnist/train/evaluate.h"
#include "support/fixtures.h"
#include "tiny_model.h"

using namespace dpmnist;

namespace {

// Trained briefly on the fixtures' synthetic digits: confident but imperfect.
const test::TinyModel& model() {
  static const test::TinyModel trained = test::train_tiny_model(
      test::synthetic_digits(600, 3), {kImagePixels, 32, 16, kNumClasses}, 1, 9);
  return trained;
}

std::vector<float> inputs_of(const Digits& digits) {
  std::vector<float> x(digits.images.size());
  pixels_to_input(digits.images, x);
  return x;
}

}  // namespace

TEST(Predictor, AgreesWithTheNetworkAndEvaluateDigits) {
  const Digits digits = test::synthetic_digits(1000, 77);
  const Predictor predictor(model().widths, model().params);
  constexpr std::size_t kBatch = 100;
  Network net(model().widths, kBatch);
  std::copy(model().params.begin(), model().params.end(), net.params().begin());
  std::vector<float> x(kBatch * kImagePixels);
  std::vector<std::uint8_t> labels(kBatch);
  const EvalSums sums = evaluate_digits(net, digits, x, labels);

  const std::vector<float> all = inputs_of(digits);
  const std::vector<Prediction> predictions = predictor.predict_batch(all, digits.size());
  std::size_t correct = 0;
  for (std::size_t b = 0; b < digits.size(); b += kBatch) {
    const std::span<const float> logits = net.forward(
        std::span<const float>(all).subspan(b * kImagePixels, kBatch * kImagePixels), kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
      std::array<float, kNumClasses> expected{};
      softmax(logits.subspan(i * kNumClasses, kNumClasses), expected);
      const Prediction& p = predictions[b + i];
      // Summation order differs from BLAS's: equal to float rounding.
      for (std::size_t c = 0; c < kNumClasses; ++c)
        ASSERT_NEAR(p.probabilities[c], expected[c], 1e-5f);
      const auto network_digit = static_cast<std::size_t>(
          std::max_element(logits.begin() + static_cast<std::ptrdiff_t>(i * kNumClasses),
                           logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * kNumClasses)) -
          (logits.begin() + static_cast<std::ptrdiff_t>(i * kNumClasses)));
      EXPECT_EQ(p.digit, network_digit);
      correct += p.digit == digits.labels[b + i] ? 1 : 0;
    }
  }
  EXPECT_EQ(static_cast<double>(correct), sums.correct());
  EXPECT_GT(sums.accuracy(), 0.3);  // a trained model, not a constant answer
  EXPECT_LT(sums.accuracy(), 1.0);
}

TEST(Predictor, LoadsTheCheckpointAndItsInformation) {
  const std::string dir = test::make_temp_dir("predictor");
  test::save_tiny_checkpoint(dir + "/checkpoint.h5", model(), 0.875);
  const Predictor loaded(dir + "/checkpoint.h5");
  const ModelInfo& info = loaded.info();
  EXPECT_EQ(info.checkpoint, dir + "/checkpoint.h5");
  EXPECT_EQ(info.widths, model().widths);
  EXPECT_EQ(info.parameters, model().params.size());
  EXPECT_EQ(info.epoch, 3);
  EXPECT_EQ(info.world_size, 2);
  EXPECT_EQ(info.global_step, 300);
  ASSERT_TRUE(info.test_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*info.test_accuracy, 0.875);
  EXPECT_DOUBLE_EQ(info.train_accuracy.value_or(0), 0.8);
  EXPECT_EQ(info.architecture(), "784-32-16-10 relu, logits");

  const Predictor memory(model().widths, model().params);
  EXPECT_FALSE(memory.info().test_accuracy.has_value());
  const std::vector<float> x = inputs_of(test::synthetic_digits(50, 5));
  for (std::size_t i = 0; i < 50; ++i) {
    const std::span<const float> one =
        std::span<const float>(x).subspan(i * kImagePixels, kImagePixels);
    EXPECT_EQ(loaded.predict(one).probabilities, memory.predict(one).probabilities);
  }
}

TEST(Predictor, ConcurrentCallsGiveTheSequentialAnswers) {
  const Predictor predictor(model().widths, model().params);
  const Digits digits = test::synthetic_digits(400, 21);
  const std::vector<float> x = inputs_of(digits);
  const std::vector<Prediction> sequential = predictor.predict_batch(x, digits.size());
  constexpr int kThreads = 8;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (std::size_t k = 0; k < digits.size(); ++k) {
          const std::size_t i = (k * 7 + static_cast<std::size_t>(t) * 13) % digits.size();
          const Prediction p =
              predictor.predict(std::span<const float>(x).subspan(i * kImagePixels, kImagePixels));
          if (p.probabilities != sequential[i].probabilities || p.digit != sequential[i].digit) {
            ++mismatches[static_cast<std::size_t>(t)];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(Predictor, TopKAndBadArguments) {
  Prediction p;
  p.probabilities = {0.05f, 0.1f, 0.3f, 0.0f, 0.0f, 0.25f, 0.0f, 0.2f, 0.1f, 0.0f};
  EXPECT_EQ(p.top(3), (std::vector<std::size_t>{2, 5, 7}));
  EXPECT_EQ(p.top(0).size(), 1u);
  EXPECT_EQ(p.top(99).size(), kNumClasses);
  EXPECT_EQ(p.top(5), (std::vector<std::size_t>{2, 5, 7, 1, 8}));  // ties keep class order

  const Predictor predictor(model().widths, model().params);
  EXPECT_THROW(predictor.predict(std::vector<float>(783)), Error);
  EXPECT_THROW(predictor.predict_batch(std::vector<float>(kImagePixels * 2), 3), Error);
  EXPECT_THROW(Predictor({kImagePixels, 10}, std::vector<float>(5)), Error);
  EXPECT_THROW(Predictor({100, 10}, std::vector<float>(1010)), Error);
  try {
    Predictor missing("/nonexistent/checkpoint.h5");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/checkpoint.h5"), std::string::npos);
  }
}
