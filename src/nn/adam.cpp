#include "dpmnist/nn/adam.h"

#include <algorithm>
#include <cmath>

#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"

namespace dpmnist {

Adam::Adam(std::size_t size, AdamSettings settings)
    : settings_(settings), m_(size, 0.0f), v_(size, 0.0f) {}

namespace {

// The update over n floats. Cloned for AVX-512 and AVX2 where the CPU has them
// (16 or 8 floats per sqrt/div instead of 4). All clones round identically:
// IEEE sqrt and division, and no FMA contraction (-ffp-contract=off), so ranks
// on nodes of different CPU generations still take the same step.
DPMNIST_CLONES void adam_update(float* __restrict p, float* __restrict m, float* __restrict v,
                                const float* __restrict g, std::size_t n, float b1, float b2,
                                float lr, float eps, float correction1, float correction2,
                                float decay) {
  for (std::size_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    p[i] -= lr * ((m[i] * correction1) / (std::sqrt(v[i] * correction2) + eps) + decay * p[i]);
  }
}

}  // namespace

void Adam::step(std::span<float> params, std::span<const float> grads) {
  require(params.size() == m_.size() && grads.size() == m_.size(), "adam: ", params.size(),
          " params and ", grads.size(), " grads for an optimizer of ", m_.size());
  ++step_;
  const double t = static_cast<double>(step_);
  // Bias corrections in double: 1 - 0.999^t loses digits in float for small t.
  const auto correction1 = static_cast<float>(1.0 / (1.0 - std::pow(double{settings_.beta1}, t)));
  const auto correction2 = static_cast<float>(1.0 / (1.0 - std::pow(double{settings_.beta2}, t)));
  adam_update(params.data(), m_.data(), v_.data(), grads.data(), m_.size(), settings_.beta1,
              settings_.beta2, settings_.learning_rate, settings_.epsilon, correction1, correction2,
              settings_.weight_decay);
}

void Adam::restore(std::span<const float> m, std::span<const float> v, std::int64_t step) {
  require(m.size() == m_.size() && v.size() == v_.size(), "adam restore: moments of ", m.size(),
          " and ", v.size(), " values, optimizer has ", m_.size());
  require(step >= 0, "adam restore: negative step count ", step);
  std::ranges::copy(m, m_.begin());
  std::ranges::copy(v, v_.begin());
  step_ = step;
}

}  // namespace dpmnist
