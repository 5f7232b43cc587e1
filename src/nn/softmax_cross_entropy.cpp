#include "dpmnist/nn/softmax_cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "dpmnist/core/error.h"

namespace dpmnist {

LossSum softmax_cross_entropy(std::span<const float> logits, std::span<const std::uint8_t> labels,
                              std::size_t batch, std::size_t classes, float grad_scale,
                              std::span<float> dlogits, float label_smoothing) {
  // B batch, C classes.
  const std::size_t B = batch, C = classes;
  require(
      logits.size() >= B * C && labels.size() >= B && (dlogits.empty() || dlogits.size() >= B * C),
      "softmax_cross_entropy: sizes do not fit B=", B, " C=", C);
  require(label_smoothing >= 0 && label_smoothing < 1, "label smoothing ", label_smoothing,
          " outside [0,1)");
  const double off_target = label_smoothing / static_cast<double>(C);
  const double on_target = 1.0 - label_smoothing + off_target;
  LossSum sum;
  for (std::size_t r = 0; r < B; ++r) {
    const float* z = logits.data() + r * C;
    const std::size_t label = labels[r];
    require(label < C, "softmax_cross_entropy: label ", label, " at row ", r, " outside [0,", C,
            ")");
    // Subtract the max so exp never overflows; log-sum-exp in double for the loss.
    const std::size_t arg_max = static_cast<std::size_t>(std::max_element(z, z + C) - z);
    const float z_max = z[arg_max];
    double denom = 0.0;
    for (std::size_t c = 0; c < C; ++c) denom += std::exp(static_cast<double>(z[c] - z_max));
    // -sum_c target_c log p_c = log(denom) - sum_c target_c (z_c - z_max)
    double target_dot_z = on_target * static_cast<double>(z[label] - z_max);
    if (off_target > 0) {
      for (std::size_t c = 0; c < C; ++c) {
        if (c != label) target_dot_z += off_target * static_cast<double>(z[c] - z_max);
      }
    }
    sum.loss += std::log(denom) - target_dot_z;
    sum.correct += arg_max == label ? 1 : 0;
    if (dlogits.empty()) continue;
    float* g = dlogits.data() + r * C;
    const double inv = 1.0 / denom;
    for (std::size_t c = 0; c < C; ++c) {
      const double p = std::exp(static_cast<double>(z[c] - z_max)) * inv;
      g[c] = grad_scale * static_cast<float>(p - (c == label ? on_target : off_target));
    }
  }
  return sum;
}

void softmax(std::span<const float> logits, std::span<float> probabilities) {
  require(logits.size() == probabilities.size() && !logits.empty(), "softmax: sizes ",
          logits.size(), " and ", probabilities.size());
  const float z_max = *std::max_element(logits.begin(), logits.end());
  double denom = 0.0;
  for (float z : logits) denom += std::exp(static_cast<double>(z - z_max));
  for (std::size_t c = 0; c < logits.size(); ++c) {
    probabilities[c] = static_cast<float>(std::exp(static_cast<double>(logits[c] - z_max)) / denom);
  }
}

}  // namespace dpmnist
