// Softmax followed by cross-entropy against integer labels, fused so the
// gradient is the stable (softmax - one_hot). Losses are summed, not averaged:
// the caller picks the scale, so data-parallel steps can divide by the global
// batch rather than the local one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace dpmnist {

struct LossSum {
  double loss = 0.0;        // sum over the batch of -log softmax(logits)[label]
  std::size_t correct = 0;  // samples whose arg-max equals the label
};

// logits [B,C] in; labels [B] in (each < C);
// dlogits [B,C] out (overwritten) = grad_scale * (softmax(logits) - target),
// skipped when dlogits is empty. target = one_hot(labels), or with label
// smoothing e: (1 - e) one_hot + e / C, and the loss is against that target.
LossSum softmax_cross_entropy(std::span<const float> logits, std::span<const std::uint8_t> labels,
                              std::size_t batch, std::size_t classes, float grad_scale,
                              std::span<float> dlogits, float label_smoothing = 0.0f);

// logits [C] in; probabilities [C] out (overwritten).
void softmax(std::span<const float> logits, std::span<float> probabilities);

}  // namespace dpmnist
