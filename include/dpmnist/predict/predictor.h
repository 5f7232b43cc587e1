// Inference for one digit at a time from a trained checkpoint, safe to call
// from many threads at once (a server's pool): predict() only reads the
// weights and keeps its activations in buffers of its own call.
// Does not decode or preprocess images (image.h, preprocess.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dpmnist/core/mnist.h"

namespace dpmnist {

struct Prediction {
  std::size_t digit = 0;                           // arg-max class
  std::array<float, kNumClasses> probabilities{};  // softmax of the logits, sum 1
  // The k most probable classes, most probable first (k clamped to 1..10).
  std::vector<std::size_t> top(std::size_t k) const;
};

struct ModelInfo {
  std::string checkpoint;           // path it was loaded from ("" when built from memory)
  std::vector<std::size_t> widths;  // {784, hidden..., 10}
  std::size_t parameters = 0;
  std::int64_t epoch = 0;  // epochs completed
  std::int64_t global_step = 0;
  std::int64_t world_size = 0;          // ranks that trained it
  std::optional<double> test_accuracy;  // last metrics-history row; nullopt without history
  std::optional<double> train_accuracy;
  std::optional<double> test_loss;
  std::string architecture() const;  // "784-128-10 relu, logits"
};

class Predictor {
 public:
  // Loads and validates the checkpoint (load_checkpoint); needs no MPI_Init.
  explicit Predictor(const std::string& checkpoint_path);
  // From weights in memory: widths {784, ..., 10}, params flat as in Network.
  Predictor(std::vector<std::size_t> widths, std::vector<float> params);

  const ModelInfo& info() const { return info_; }

  // input [784] in (pixel/255 form). Thread-safe (const, per-call buffers).
  // Throws Error when input's size is not the model's input width.
  Prediction predict(std::span<const float> input) const;

  // inputs [B,784] in; returns B predictions. Thread-safe.
  std::vector<Prediction> predict_batch(std::span<const float> inputs, std::size_t batch) const;

 private:
  ModelInfo info_;
  std::vector<float> params_;  // flat: per layer kernel [in,out] then bias [out]
};

}  // namespace dpmnist
