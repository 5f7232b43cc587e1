#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dpmnist/core/blas.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/nn/dense.h"
#include "dpmnist/nn/relu.h"
#include "dpmnist/nn/softmax_cross_entropy.h"
#include "support/gradient_check.h"
#include "support/reference_ops.h"

using namespace dpmnist;
using dpmnist::test::check_gradient;

namespace {

std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-scale, scale);
  return v;
}

// Tolerance on the relative error of central differences with a double loss:
// truncation O(h^2) at h = 1e-3 plus float storage of the inputs stays below 1e-4.
constexpr double kGradientTolerance = 1e-3;

}  // namespace

TEST(Gemm, MatchesNaiveLoopsForEveryTransposeCombination) {
  const std::size_t M = 7, N = 5, K = 9;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const std::vector<float> A = random_vector(M * K, 1), B = random_vector(K * N, 2);
      std::vector<float> C = random_vector(M * N, 3);
      const std::vector<float> C0 = C;
      gemm(ta ? Transpose::kYes : Transpose::kNo, tb ? Transpose::kYes : Transpose::kNo, M, N, K,
           1.0f, A, B, 1.0f, C);
      const std::vector<float> expected = reference::matmul(ta, tb, M, N, K, A, B);
      for (std::size_t i = 0; i < M * N; ++i) {
        EXPECT_NEAR(C[i], C0[i] + expected[i], 1e-5) << "ta " << ta << " tb " << tb << " i " << i;
      }
    }
  }
}

TEST(Dense, ForwardMatchesNaiveReference) {
  const std::size_t B = 6, I = 11, O = 4;
  const auto x = random_vector(B * I, 4), W = random_vector(I * O, 5), b = random_vector(O, 6);
  std::vector<float> y(B * O, 123.0f);  // garbage: forward must overwrite
  dense_forward(x, W, b, y, B, I, O);
  const auto expected = reference::dense(x, W, b, B, I, O);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-5);
}

TEST(Dense, BackwardMatchesCentralDifferences) {
  const std::size_t B = 5, I = 8, O = 3;
  auto x = random_vector(B * I, 7), W = random_vector(I * O, 8), b = random_vector(O, 9);
  const auto R = random_vector(B * O, 10);  // L = sum(y * R), so dL/dy = R
  auto loss = [&] {
    double total = 0;
    for (std::size_t r = 0; r < B; ++r) {
      for (std::size_t o = 0; o < O; ++o) {
        double y = b[o];
        for (std::size_t i = 0; i < I; ++i) y += double{x[r * I + i]} * W[i * O + o];
        total += y * R[r * O + o];
      }
    }
    return total;
  };
  std::vector<float> dW(I * O, 0.0f), db(O, 0.0f), dx(B * I, 0.0f);
  dense_backward(R, x, W, dW, db, dx, B, I, O);
  EXPECT_LT(check_gradient(W, dW, loss).max_relative_error, kGradientTolerance);
  EXPECT_LT(check_gradient(b, db, loss).max_relative_error, kGradientTolerance);
  EXPECT_LT(check_gradient(x, dx, loss).max_relative_error, kGradientTolerance);
}

TEST(Dense, BackwardAccumulatesParameterGradientsAndOverwritesInputGradient) {
  const std::size_t B = 4, I = 5, O = 3;
  const auto x = random_vector(B * I, 11), W = random_vector(I * O, 12),
             dy = random_vector(B * O, 13);
  std::vector<float> dW1(I * O, 0.0f), db1(O, 0.0f), dx1(B * I, 0.0f);
  dense_backward(dy, x, W, dW1, db1, dx1, B, I, O);
  std::vector<float> dW2(I * O, 0.0f), db2(O, 0.0f), dx2(B * I, 99.0f);
  dense_backward(dy, x, W, dW2, db2, dx2, B, I, O);
  dense_backward(dy, x, W, dW2, db2, dx2, B, I, O);
  for (std::size_t i = 0; i < dW1.size(); ++i) EXPECT_FLOAT_EQ(dW2[i], 2 * dW1[i]);
  for (std::size_t i = 0; i < db1.size(); ++i) EXPECT_FLOAT_EQ(db2[i], 2 * db1[i]);
  for (std::size_t i = 0; i < dx1.size(); ++i) EXPECT_FLOAT_EQ(dx2[i], dx1[i]);
  // The first layer passes an empty dx: nothing is computed or written.
  std::vector<float> dW3(I * O, 0.0f), db3(O, 0.0f);
  dense_backward(dy, x, W, dW3, db3, {}, B, I, O);
  EXPECT_EQ(dW3, dW1);
}

TEST(Relu, BackwardMatchesCentralDifferences) {
  auto z = random_vector(40, 14);
  for (float& v : z) v = v >= 0 ? v + 0.05f : v - 0.05f;  // away from the kink at 0
  const auto R = random_vector(40, 15);
  auto loss = [&] {
    double total = 0;
    for (std::size_t i = 0; i < z.size(); ++i) total += std::max(double{z[i]}, 0.0) * R[i];
    return total;
  };
  std::vector<float> y = z;
  relu_forward(y);
  std::vector<float> dz = R;
  relu_backward(y, dz);
  EXPECT_LT(check_gradient(z, dz, loss).max_relative_error, kGradientTolerance);
  for (std::size_t i = 0; i < z.size(); ++i) EXPECT_EQ(y[i], z[i] > 0 ? z[i] : 0.0f);
}

TEST(SoftmaxCrossEntropy, LossMatchesHandComputedValues) {
  // Two equal logits: loss ln 2. Logits (0, ln 3) with label 1: p = 3/4, loss -ln(3/4).
  const std::vector<float> logits = {0.0f, 0.0f, 0.0f, std::log(3.0f)};
  const std::vector<std::uint8_t> labels = {0, 1};
  const LossSum sum = softmax_cross_entropy(logits, labels, 2, 2, 1.0f, {});
  EXPECT_NEAR(sum.loss, std::log(2.0) - std::log(0.75), 1e-6);
  // Row 1 ties (arg-max takes class 0, its label); row 2 picks class 1, its label.
  EXPECT_EQ(sum.correct, 2u);
}

TEST(SoftmaxCrossEntropy, GradientMatchesCentralDifferencesAndIsStableForHugeLogits) {
  const std::size_t B = 6, C = 10;
  auto logits = random_vector(B * C, 16, 3.0f);
  const std::vector<std::uint8_t> labels = {0, 3, 9, 2, 2, 7};
  std::vector<float> dlogits(B * C);
  const float scale = 1.0f / static_cast<float>(B);
  const LossSum sum = softmax_cross_entropy(logits, labels, B, C, scale, dlogits);
  EXPECT_NEAR(sum.loss / B, reference::softmax_cross_entropy(logits, labels, B, C), 1e-6);
  auto loss = [&] { return reference::softmax_cross_entropy(logits, labels, B, C); };
  EXPECT_LT(check_gradient(logits, dlogits, loss).max_relative_error, kGradientTolerance);

  std::vector<float> huge = {1000.0f, -1000.0f, 0.0f};
  std::vector<float> grad(3);
  const LossSum big = softmax_cross_entropy(huge, std::vector<std::uint8_t>{1}, 1, 3, 1.0f, grad);
  EXPECT_NEAR(big.loss, 2000.0, 1e-3);
  EXPECT_TRUE(std::isfinite(grad[0]) && std::isfinite(grad[1]));
  EXPECT_NEAR(grad[1], -1.0f, 1e-6);
}

TEST(SoftmaxCrossEntropy, LabelSmoothingMatchesHandComputedValueAndCentralDifferences) {
  // Two classes, equal logits, e = 0.2: target (0.9, 0.1), p = (0.5, 0.5):
  // loss = -(0.9 ln 0.5 + 0.1 ln 0.5) = ln 2; gradient p - target = (-0.4, 0.4).
  std::vector<float> equal = {0.0f, 0.0f}, grad(2);
  const LossSum hand =
      softmax_cross_entropy(equal, std::vector<std::uint8_t>{0}, 1, 2, 1.0f, grad, 0.2f);
  EXPECT_NEAR(hand.loss, std::log(2.0), 1e-9);
  EXPECT_NEAR(grad[0], -0.4f, 1e-7);
  EXPECT_NEAR(grad[1], 0.4f, 1e-7);

  const std::size_t B = 5, C = 10;
  const float e = 0.1f;
  auto logits = random_vector(B * C, 21, 2.0f);
  const std::vector<std::uint8_t> labels = {1, 4, 4, 9, 0};
  std::vector<float> dlogits(B * C);
  softmax_cross_entropy(logits, labels, B, C, 1.0f, dlogits, e);
  auto loss = [&] {  // smoothed cross-entropy in double, from the definition
    double total = 0;
    for (std::size_t r = 0; r < B; ++r) {
      double denom = 0;
      for (std::size_t c = 0; c < C; ++c) denom += std::exp(double{logits[r * C + c]});
      for (std::size_t c = 0; c < C; ++c) {
        const double target = (c == labels[r] ? 1.0 - e : 0.0) + e / C;
        total -= target * (double{logits[r * C + c]} - std::log(denom));
      }
    }
    return total;
  };
  EXPECT_LT(test::check_gradient(logits, dlogits, loss).max_relative_error, kGradientTolerance);
}
