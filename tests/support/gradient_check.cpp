#include "support/gradient_check.h"

#include <algorithm>
#include <cmath>

namespace dpmnist::test {

GradientCheck check_gradient(std::span<float> values, std::span<const float> analytic,
                             const std::function<double()>& loss, double h, std::size_t stride,
                             double floor) {
  GradientCheck result;
  for (std::size_t i = 0; i < values.size(); i += stride) {
    const float saved = values[i];
    values[i] = static_cast<float>(saved + h);
    const double up = loss();
    values[i] = static_cast<float>(saved - h);
    const double down = loss();
    values[i] = saved;
    // The perturbation actually applied in float, not the nominal h.
    const double step =
        double{static_cast<float>(saved + h)} - double{static_cast<float>(saved - h)};
    const double numeric = (up - down) / step;
    const double a = analytic[i];
    const double error = std::abs(a - numeric) / std::max(std::abs(a) + std::abs(numeric), floor);
    if (error > result.max_relative_error) {
      result = {error, i, a, numeric};
    }
  }
  return result;
}

}  // namespace dpmnist::test
