#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dpmnist/core/hash.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/nn/network.h"
#include "dpmnist/nn/softmax_cross_entropy.h"
#include "support/gradient_check.h"
#include "support/reference_ops.h"

using namespace dpmnist;

namespace {

struct Problem {
  std::vector<std::size_t> widths = {6, 5, 4, 3};
  std::size_t batch = 4;
  std::vector<float> x;
  std::vector<std::uint8_t> labels = {0, 2, 1, 2};
};

Problem make_problem() {
  Problem p;
  Rng rng(3);
  p.x.resize(p.batch * p.widths[0]);
  for (float& v : p.x) v = rng.uniform(-1.0f, 1.0f);
  return p;
}

}  // namespace

TEST(Network, ParameterSlicesTileTheFlatBufferInKerasOrder) {
  Network net({784, 128, 10}, 4);
  EXPECT_EQ(net.params().size(), 784u * 128 + 128 + 128 * 10 + 10);
  EXPECT_EQ(net.kernel(0).data(), net.params().data());
  EXPECT_EQ(net.bias(0).data(), net.params().data() + 784 * 128);
  EXPECT_EQ(net.kernel(1).data(), net.bias(0).data() + 128);
  EXPECT_EQ(net.bias(1).data() + 10, net.params().data() + net.params().size());
  EXPECT_EQ(net.kernel_grad(1).data() - net.grads().data(),
            net.kernel(1).data() - net.params().data());
}

TEST(Network, GlorotInitIsSeededBoundedAndZeroBias) {
  Network a({784, 128, 10}, 1), b({784, 128, 10}, 1), c({784, 128, 10}, 1);
  a.init_glorot(1);
  b.init_glorot(1);
  c.init_glorot(2);
  EXPECT_EQ(hash_floats(a.params()), hash_floats(b.params()));
  EXPECT_NE(hash_floats(a.params()), hash_floats(c.params()));
  const float limit = std::sqrt(6.0f / (784 + 128));
  float largest = 0;
  for (float w : a.kernel(0)) largest = std::max(largest, std::abs(w));
  EXPECT_LE(largest, limit);
  EXPECT_GT(largest, 0.95f * limit);
  for (float v : a.bias(0)) EXPECT_EQ(v, 0.0f);
}

TEST(Network, ForwardMatchesNaiveReference) {
  Problem p = make_problem();
  Network net(p.widths, p.batch);
  net.init_glorot(9);
  for (float& v : net.bias(0)) v = 0.1f;  // non-zero biases exercise the bias path
  const std::span<const float> logits = net.forward(p.x, p.batch);
  const std::vector<float> expected =
      reference::network_forward(p.widths, net.params(), p.x, p.batch);
  ASSERT_EQ(logits.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(logits[i], expected[i], 1e-5);
}

TEST(Network, BackwardMatchesCentralDifferencesOfTheMeanLoss) {
  Problem p = make_problem();
  Network net(p.widths, p.batch);
  net.init_glorot(10);
  for (float& v : net.bias(0)) v = 0.05f;
  net.zero_grads();
  std::span<const float> logits = net.forward(p.x, p.batch);
  std::span<float> dlogits = net.logits_grad(p.batch);
  softmax_cross_entropy(logits, p.labels, p.batch, 3, 1.0f / static_cast<float>(p.batch), dlogits);
  net.backward(p.x, dlogits, p.batch);
  const std::vector<float> analytic(net.grads().begin(), net.grads().end());
  auto loss = [&] {
    return reference::network_loss(p.widths, net.params(), p.x, p.labels, p.batch);
  };
  const auto check = test::check_gradient(net.params(), analytic, loss);
  EXPECT_LT(check.max_relative_error, 1e-3)
      << "worst parameter " << check.worst_index << ": analytic " << check.analytic_at_worst
      << ", numeric " << check.numeric_at_worst;
}

TEST(Network, SmallerBatchThanMaxUsesOnlyItsRows) {
  Problem p = make_problem();
  Network big(p.widths, 16), exact(p.widths, p.batch);
  big.init_glorot(4);
  exact.init_glorot(4);
  const auto a = big.forward(p.x, p.batch);
  const auto b = exact.forward(p.x, p.batch);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  EXPECT_THROW(exact.forward(p.x, p.batch + 1), std::exception);
}

// With dropout, backward must follow the masks: a central-difference check of
// the training-mode loss with the same masks (same seed) on every evaluation.
TEST(Network, DropoutBackwardMatchesCentralDifferencesWithFixedMasks) {
  Problem p = make_problem();
  Network net(p.widths, p.batch);
  net.init_glorot(13);
  // Every hidden unit well inside its linear part, so no perturbation crosses
  // a ReLU kink and the float differences stay smooth.
  for (std::size_t l = 0; l < 2; ++l) {
    for (float& w : net.kernel(l)) w *= 0.3f;
    for (float& v : net.bias(l)) v = 1.0f;
  }
  net.set_dropout(0.3f, 0.2f);
  const std::uint64_t seed = 99;
  auto train_loss = [&] {
    auto logits = net.forward_train(p.x, p.batch, seed);
    return softmax_cross_entropy(logits, p.labels, p.batch, 3, 0.0f, {}).loss /
           static_cast<double>(p.batch);
  };
  net.zero_grads();
  auto logits = net.forward_train(p.x, p.batch, seed);
  auto dlogits = net.logits_grad(p.batch);
  softmax_cross_entropy(logits, p.labels, p.batch, 3, 1.0f / static_cast<float>(p.batch), dlogits);
  net.backward(p.x, dlogits, p.batch);
  const std::vector<float> analytic(net.grads().begin(), net.grads().end());
  // Float forward: use a larger step and tolerance than the double-loss checks.
  const auto check = test::check_gradient(net.params(), analytic, train_loss, 1e-2, 1, 1e-3);
  EXPECT_LT(check.max_relative_error, 2e-2)
      << "worst " << check.worst_index << ": analytic " << check.analytic_at_worst << " numeric "
      << check.numeric_at_worst;
  // Inference ignores dropout; training with the same seed repeats itself.
  const std::vector<float> a(net.forward_train(p.x, p.batch, seed).begin(),
                             net.forward_train(p.x, p.batch, seed).end());
  const auto b = net.forward_train(p.x, p.batch, seed);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  const auto inference = net.forward(p.x, p.batch);
  const auto reference = reference::network_forward(p.widths, net.params(), p.x, p.batch);
  for (std::size_t i = 0; i < reference.size(); ++i) EXPECT_NEAR(inference[i], reference[i], 1e-5);
}

TEST(Network, MaxNormCapsEveryHiddenUnitsIncomingWeights) {
  Network net({6, 5, 3}, 1);
  net.init_glorot(3);
  for (float& w : net.kernel(0)) w *= 10.0f;
  const std::vector<float> output_kernel(net.kernel(1).begin(), net.kernel(1).end());
  net.apply_max_norm(1.5f);
  for (std::size_t o = 0; o < 5; ++o) {
    double norm = 0;
    for (std::size_t i = 0; i < 6; ++i)
      norm += double{net.kernel(0)[i * 5 + o]} * net.kernel(0)[i * 5 + o];
    EXPECT_NEAR(std::sqrt(norm), 1.5, 1e-5) << "unit " << o;
  }
  EXPECT_EQ(std::vector<float>(net.kernel(1).begin(), net.kernel(1).end()), output_kernel)
      << "the output layer is not a hidden unit";
}
