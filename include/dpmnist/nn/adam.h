// Adam with bias correction (Kingma & Ba 2015, Algorithm 1) over one flat
// parameter span. Deterministic and identical on every rank given identical
// gradients; holds its moments so they can be checkpointed and restored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace dpmnist {

struct AdamSettings {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-7f;   // Keras's default
  float weight_decay = 0;  // decoupled (AdamW): p -= lr * weight_decay * p each step
};

class Adam {
 public:
  Adam(std::size_t size, AdamSettings settings);

  // params [P] in/out; grads [P] in. Advances the step count by one:
  //   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
  //   p -= lr * ((m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + weight_decay * p)
  void step(std::span<float> params, std::span<const float> grads);

  std::int64_t step_count() const { return step_; }
  std::span<const float> first_moment() const { return m_; }
  std::span<const float> second_moment() const { return v_; }
  // Restores state saved from another Adam of the same size.
  void restore(std::span<const float> m, std::span<const float> v, std::int64_t step);
  void set_learning_rate(float learning_rate) { settings_.learning_rate = learning_rate; }
  const AdamSettings& settings() const { return settings_; }

 private:
  AdamSettings settings_;
  std::vector<float> m_, v_;
  std::int64_t step_ = 0;
};

}  // namespace dpmnist
