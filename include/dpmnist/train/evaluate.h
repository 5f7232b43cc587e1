// Test-set evaluation: loss, accuracy and confusion matrix of a network on a
// set of digits, as sums that ranks add together with one allreduce, and the
// per-class precision/recall/F1 derived from the confusion matrix.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "dpmnist/core/mnist.h"
#include "dpmnist/nn/network.h"

namespace dpmnist {

// Sums over the digits evaluated; one flat block so one allreduce adds them.
struct EvalSums {
  static constexpr std::size_t kSize = 3 + kNumClasses * kNumClasses;
  std::array<double, kSize> values{};  // loss_sum, correct, count, confusion[true][predicted]

  double loss_sum() const { return values[0]; }
  double correct() const { return values[1]; }
  double count() const { return values[2]; }
  double confusion(std::size_t truth, std::size_t predicted) const {
    return values[3 + truth * kNumClasses + predicted];
  }
  double mean_loss() const { return count() > 0 ? loss_sum() / count() : 0.0; }
  double accuracy() const { return count() > 0 ? correct() / count() : 0.0; }
};

// Runs net over all digits in chunks of net.max_batch(); x [max_batch,784] and
// labels [max_batch] are scratch. Returns this process's sums (not reduced).
EvalSums evaluate_digits(Network& net, const Digits& digits, std::span<float> x,
                         std::span<std::uint8_t> labels);

struct ClassScore {
  double precision = 0, recall = 0, f1 = 0;
  std::size_t support = 0;  // true samples of the class
};
std::vector<ClassScore> class_scores(const EvalSums& sums);

}  // namespace dpmnist
