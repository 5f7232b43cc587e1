#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dpmnist/nn/adam.h"

using namespace dpmnist;

// Hand computation (double) of three Adam steps on two parameters with
// gradients that change each step:
//   m_t = 0.9 m + 0.1 g,  v_t = 0.999 v + 0.001 g^2,
//   p -= lr * (m_t / (1 - 0.9^t)) / (sqrt(v_t / (1 - 0.999^t)) + eps)
TEST(Adam, MatchesHandComputedStepsWithBiasCorrection) {
  AdamSettings settings;
  settings.learning_rate = 0.01f;
  settings.epsilon = 1e-8f;
  Adam adam(2, settings);
  std::vector<float> params = {1.0f, -2.0f};
  const float grads[3][2] = {{0.5f, -1.0f}, {0.25f, 2.0f}, {-0.125f, 0.0f}};
  // Step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2 -> p -= lr * sign(g) (about).
  // Expected values worked out step by step below.
  double p[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
  const double expected_after_step1[2] = {1.0 - 0.01 * 0.5 / (0.5 + 1e-8),
                                          -2.0 - 0.01 * -1.0 / (1.0 + 1e-8)};
  for (int t = 1; t <= 3; ++t) {
    adam.step(params, grads[t - 1]);
    for (int i = 0; i < 2; ++i) {
      const double g = grads[t - 1][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double mhat = m[i] / (1 - std::pow(0.9, t));
      const double vhat = v[i] / (1 - std::pow(0.999, t));
      p[i] -= 0.01 * mhat / (std::sqrt(vhat) + 1e-8);
      EXPECT_NEAR(params[i], p[i], 2e-6) << "step " << t << " param " << i;
    }
    if (t == 1) {
      EXPECT_NEAR(params[0], expected_after_step1[0], 1e-6);  // 0.99
      EXPECT_NEAR(params[1], expected_after_step1[1], 1e-6);  // -1.99
    }
  }
  EXPECT_EQ(adam.step_count(), 3);
}

TEST(Adam, DecoupledWeightDecayShrinksWeightsWithZeroGradient) {
  // g = 0 keeps m = v = 0, so the step is exactly p -= lr * wd * p.
  AdamSettings settings;
  settings.learning_rate = 0.1f;
  settings.weight_decay = 0.5f;
  Adam adam(2, settings);
  std::vector<float> params = {2.0f, -4.0f}, grads = {0.0f, 0.0f};
  adam.step(params, grads);
  EXPECT_FLOAT_EQ(params[0], 2.0f * (1 - 0.05f));
  EXPECT_FLOAT_EQ(params[1], -4.0f * (1 - 0.05f));
}

TEST(Adam, RestoredStateContinuesBitwiseLikeTheOriginal) {
  Adam a(3, {}), b(3, {});
  std::vector<float> pa = {0.1f, 0.2f, 0.3f}, grads = {0.01f, -0.02f, 0.5f};
  a.step(pa, grads);
  std::vector<float> pb = pa;
  b.restore(a.first_moment(), a.second_moment(), a.step_count());
  a.step(pa, grads);
  b.step(pb, grads);
  EXPECT_EQ(pa, pb);
}

TEST(Adam, RejectsMismatchedSizes) {
  Adam adam(3, {});
  std::vector<float> params(3), grads(2);
  EXPECT_THROW(adam.step(params, grads), std::exception);
}

// The vectorised clone this CPU runs must round exactly like plain scalar
// float code (no FMA contraction), or ranks on different CPUs would drift.
TEST(Adam, VectorisedUpdateIsBitwiseEqualToScalarFloatCode) {
  const std::size_t n = 1003;  // not a multiple of any vector width
  AdamSettings s;
  s.weight_decay = 0.01f;
  Adam adam(n, s);
  std::vector<float> params(n), grads(n), p(n), m(n, 0.0f), v(n, 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    params[i] = p[i] = std::sin(static_cast<float>(i));
    grads[i] = 0.01f * std::cos(static_cast<float>(3 * i));
  }
  for (int t = 1; t <= 4; ++t) {
    adam.step(params, grads);
    const auto c1 = static_cast<float>(1.0 / (1.0 - std::pow(double{s.beta1}, t)));
    const auto c2 = static_cast<float>(1.0 / (1.0 - std::pow(double{s.beta2}, t)));
    for (std::size_t i = 0; i < n; ++i) {
      volatile float mi = s.beta1 * m[i] + (1.0f - s.beta1) * grads[i];
      volatile float gg = (1.0f - s.beta2) * grads[i] * grads[i];
      volatile float vi = s.beta2 * v[i] + gg;
      m[i] = mi;
      v[i] = vi;
      volatile float root = std::sqrt(v[i] * c2);
      volatile float ratio = (m[i] * c1) / (root + s.epsilon);
      volatile float decayed = s.weight_decay * p[i];
      volatile float step = s.learning_rate * (ratio + decayed);
      p[i] -= step;
    }
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(params[i], p[i]) << "step " << t << " i " << i;
  }
}
