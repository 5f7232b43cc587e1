// Central finite differences for gradient checks: perturbs one parameter at a
// time by +-h, evaluates a loss computed in double, and compares with the
// analytic gradient by a relative error that tolerates tiny gradients.
#pragma once

#include <cstddef>
#include <functional>
#include <span>

namespace dpmnist::test {

struct GradientCheck {
  double max_relative_error = 0;  // over checked entries
  std::size_t worst_index = 0;
  double analytic_at_worst = 0, numeric_at_worst = 0;
};

// values [n] in/out (restored on return); analytic [n] in.
// loss() must read values and return the loss in double.
// |a - n| / max(|a| + |n|, floor) per entry; every stride-th entry is checked.
GradientCheck check_gradient(std::span<float> values, std::span<const float> analytic,
                             const std::function<double()>& loss, double h = 1e-3,
                             std::size_t stride = 1, double floor = 1e-4);

}  // namespace dpmnist::test
