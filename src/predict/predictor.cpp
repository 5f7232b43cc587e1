#include "dpmnist/predict/predictor.h"

#include <algorithm>
#include <numeric>

#include "dpmnist/core/error.h"
#include "dpmnist/data/checkpoint.h"
#include "dpmnist/nn/softmax_cross_entropy.h"

namespace dpmnist {

namespace {

void check_widths(const std::vector<std::size_t>& widths, std::size_t param_size,
                  const std::string& source) {
  require(widths.size() >= 2, source, ": model has ", widths.size(),
          " widths; expected {784, hidden..., 10}");
  require(widths.front() == kImagePixels && widths.back() == kNumClasses, source, ": model ",
          widths.front(), "-...-", widths.back(), "; expected input ", kImagePixels, " and ",
          kNumClasses, " classes");
  require(param_size == param_count(widths), source, ": ", param_size,
          " parameters; the widths need ", param_count(widths));
}

}  // namespace

std::vector<std::size_t> Prediction::top(std::size_t k) const {
  std::vector<std::size_t> order(kNumClasses);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return probabilities[a] > probabilities[b];
  });
  order.resize(std::clamp<std::size_t>(k, 1, kNumClasses));
  return order;
}

std::string ModelInfo::architecture() const {
  std::string text;
  for (std::size_t i = 0; i < widths.size(); ++i)
    text += (i ? "-" : "") + std::to_string(widths[i]);
  return text + " relu, logits";
}

Predictor::Predictor(const std::string& checkpoint_path) {
  Checkpoint checkpoint = load_checkpoint(checkpoint_path);
  check_widths(checkpoint.widths, checkpoint.params.size(), checkpoint_path);
  info_.checkpoint = checkpoint_path;
  info_.widths = checkpoint.widths;
  info_.parameters = checkpoint.params.size();
  info_.epoch = checkpoint.epoch;
  info_.global_step = checkpoint.global_step;
  info_.world_size = checkpoint.world_size;
  if (!checkpoint.history.empty()) {
    const EpochMetrics& last = checkpoint.history.back();
    info_.test_accuracy = last.test_acc;
    info_.train_accuracy = last.train_acc;
    info_.test_loss = last.test_loss;
  }
  params_ = std::move(checkpoint.params);
}

Predictor::Predictor(std::vector<std::size_t> widths, std::vector<float> params) {
  check_widths(widths, params.size(), "Predictor");
  info_.widths = std::move(widths);
  info_.parameters = params.size();
  params_ = std::move(params);
}

Prediction Predictor::predict(std::span<const float> input) const {
  // Per layer: out [O] = bias + in [I] * kernel [I,O], ReLU between layers.
  // The loop runs over inputs and skips zeros: a centred digit leaves about
  // four fifths of the 784 pixels black.
  require(input.size() == info_.widths.front(), "Predictor::predict: input has ", input.size(),
          " values; expected ", info_.widths.front());
  std::vector<float> in(input.begin(), input.end()), out;
  std::size_t offset = 0;
  const std::size_t layers = info_.widths.size() - 1;
  for (std::size_t l = 0; l < layers; ++l) {
    const std::size_t I = info_.widths[l], O = info_.widths[l + 1];
    const float* kernel = params_.data() + offset;
    const float* bias = kernel + I * O;
    out.assign(bias, bias + O);
    for (std::size_t i = 0; i < I; ++i) {
      const float x = in[i];
      if (x == 0.0f) continue;
      const float* row = kernel + i * O;
      for (std::size_t o = 0; o < O; ++o) out[o] += x * row[o];
    }
    if (l + 1 < layers) {
      for (float& v : out) v = std::max(v, 0.0f);
    }
    offset += I * O + O;
    std::swap(in, out);
  }
  Prediction prediction;
  softmax(in, prediction.probabilities);
  prediction.digit = static_cast<std::size_t>(std::max_element(in.begin(), in.end()) - in.begin());
  return prediction;
}

std::vector<Prediction> Predictor::predict_batch(std::span<const float> inputs,
                                                 std::size_t batch) const {
  const std::size_t width = info_.widths.front();
  require(inputs.size() == batch * width, "Predictor::predict_batch: ", inputs.size(),
          " values for a batch of ", batch, "; expected ", batch * width);
  std::vector<Prediction> predictions;
  predictions.reserve(batch);
  for (std::size_t b = 0; b < batch; ++b)
    predictions.push_back(predict(inputs.subspan(b * width, width)));
  return predictions;
}

}  // namespace dpmnist
