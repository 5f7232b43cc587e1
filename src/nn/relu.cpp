#include "dpmnist/nn/relu.h"

#include "dpmnist/core/error.h"

namespace dpmnist {

void relu_forward(std::span<float> y) {
  for (float& v : y) v = v > 0.0f ? v : 0.0f;
}

void relu_backward(std::span<const float> y, std::span<float> dy) {
  require(y.size() == dy.size(), "relu_backward: y has ", y.size(), " values, dy ", dy.size());
  for (std::size_t i = 0; i < y.size(); ++i) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

}  // namespace dpmnist
