#include "dpmnist/train/evaluate.h"

#include <algorithm>

#include "dpmnist/data/batch.h"
#include "dpmnist/nn/softmax_cross_entropy.h"

namespace dpmnist {

EvalSums evaluate_digits(Network& net, const Digits& digits, std::span<float> x,
                         std::span<std::uint8_t> labels) {
  EvalSums sums;
  const std::size_t C = net.output_size();
  for (std::size_t begin = 0; begin < digits.size(); begin += net.max_batch()) {
    const std::size_t B = std::min(net.max_batch(), digits.size() - begin);
    gather_rows(digits, begin, B, x, labels);
    std::span<const float> logits = net.forward(x, B);
    const LossSum loss = softmax_cross_entropy(logits, labels, B, C, 0.0f, {});
    sums.values[0] += loss.loss;
    sums.values[1] += static_cast<double>(loss.correct);
    sums.values[2] += static_cast<double>(B);
    for (std::size_t r = 0; r < B; ++r) {
      const float* z = logits.data() + r * C;
      const auto predicted = static_cast<std::size_t>(std::max_element(z, z + C) - z);
      sums.values[3 + labels[r] * kNumClasses + predicted] += 1.0;
    }
  }
  return sums;
}

std::vector<ClassScore> class_scores(const EvalSums& sums) {
  std::vector<ClassScore> scores(kNumClasses);
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    double true_positive = sums.confusion(c, c), actual = 0, predicted = 0;
    for (std::size_t k = 0; k < kNumClasses; ++k) {
      actual += sums.confusion(c, k);
      predicted += sums.confusion(k, c);
    }
    ClassScore& s = scores[c];
    s.support = static_cast<std::size_t>(actual);
    s.precision = predicted > 0 ? true_positive / predicted : 0.0;
    s.recall = actual > 0 ? true_positive / actual : 0.0;
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  }
  return scores;
}

}  // namespace dpmnist
