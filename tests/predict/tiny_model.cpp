#include "tiny_model.h"

#include <numeric>

#include "dpmnist/core/rng.h"
#include "dpmnist/data/batch.h"
#include "dpmnist/data/checkpoint.h"
#include "dpmnist/nn/adam.h"
#include "dpmnist/nn/network.h"
#include "dpmnist/nn/softmax_cross_entropy.h"

namespace dpmnist::test {

TinyModel train_tiny_model(const Digits& digits, std::vector<std::size_t> widths,
                           std::size_t epochs, std::uint64_t seed) {
  constexpr std::size_t kBatch = 32;
  Network net(widths, kBatch);
  net.init_glorot(seed);
  Adam adam(net.params().size(), AdamSettings{.learning_rate = 2e-3f});
  std::vector<std::uint32_t> order(digits.size());
  std::iota(order.begin(), order.end(), 0u);
  std::vector<float> x(kBatch * kImagePixels);
  std::vector<std::uint8_t> labels(kBatch);
  Rng rng(seed);
  for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
    shuffle(std::span<std::uint32_t>(order), rng);
    for (std::size_t begin = 0; begin + kBatch <= order.size(); begin += kBatch) {
      gather_batch(digits, std::span<const std::uint32_t>(order).subspan(begin, kBatch), x, labels);
      net.zero_grads();
      const std::span<const float> logits = net.forward(x, kBatch);
      const std::span<float> dlogits = net.logits_grad(kBatch);
      softmax_cross_entropy(logits, labels, kBatch, kNumClasses, 1.0f / kBatch, dlogits);
      net.backward(x, dlogits, kBatch);
      adam.step(net.params(), net.grads());
    }
  }
  return {std::move(widths), std::vector<float>(net.params().begin(), net.params().end())};
}

void save_tiny_checkpoint(const std::string& path, const TinyModel& model, double test_accuracy) {
  Checkpoint c;
  c.widths = model.widths;
  c.params = model.params;
  c.adam_m.assign(c.params.size(), 0.0f);
  c.adam_v.assign(c.params.size(), 0.0f);
  c.epoch = 3;
  c.global_step = 300;
  c.world_size = 2;
  c.seed = 1;
  c.config_text = "[model]\nhidden = 32\n";
  for (std::int64_t e = 1; e <= 3; ++e) {
    EpochMetrics m;
    m.epoch = e;
    m.train_acc = 0.5 + 0.1 * static_cast<double>(e);
    m.test_acc = e == 3 ? test_accuracy : 0.5;
    m.test_loss = 0.3;
    m.world_size = 2;
    c.history.push_back(m);
  }
  save_checkpoint(path, c);
}

}  // namespace dpmnist::test
