#include "dpmnist/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dpmnist/dense.h"
#include "dpmnist/error.h"
#include "dpmnist/relu.h"
#include "dpmnist/rng.h"

namespace dpmnist {

Network::Network(std::vector<std::size_t> widths, std::size_t max_batch)
    : widths_(std::move(widths)), max_batch_(max_batch) {
  require(widths_.size() >= 2, "network needs at least an input and an output width, got ",
          widths_.size(), " widths");
  require(max_batch_ > 0, "network max batch must be positive");
  std::size_t offset = 0, widest_hidden = 0;
  for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
    require(widths_[l] > 0 && widths_[l + 1] > 0, "layer ", l, " has a zero width");
    offsets_.push_back(offset);
    offset += widths_[l] * widths_[l + 1] + widths_[l + 1];
    outputs_.emplace_back(max_batch_ * widths_[l + 1]);
    if (l + 2 < widths_.size()) widest_hidden = std::max(widest_hidden, widths_[l + 1]);
  }
  offsets_.push_back(offset);
  params_.assign(offset, 0.0f);
  grads_.assign(offset + 1, 0.0f);
  dlogits_.assign(max_batch_ * output_size(), 0.0f);
  delta_a_.assign(max_batch_ * std::max(widest_hidden, output_size()), 0.0f);
  delta_b_.assign(delta_a_.size(), 0.0f);
}

std::span<float> Network::slice(std::vector<float>& buffer, std::size_t l, bool bias_part) {
  require(l < num_layers(), "layer ", l, " outside [0,", num_layers(), ")");
  const std::size_t kernel_size = widths_[l] * widths_[l + 1];
  std::span<float> all(buffer);
  return bias_part ? all.subspan(offsets_[l] + kernel_size, widths_[l + 1])
                   : all.subspan(offsets_[l], kernel_size);
}

void Network::init_glorot(std::uint64_t seed) {
  Rng rng(seed);
  for (std::size_t l = 0; l < num_layers(); ++l) {
    const auto limit = static_cast<float>(std::sqrt(6.0 / static_cast<double>(widths_[l] + widths_[l + 1])));
    for (float& w : kernel(l)) w = rng.uniform(-limit, limit);
    std::ranges::fill(bias(l), 0.0f);
  }
}

void Network::zero_grads() { std::memset(grads_.data(), 0, grads_.size() * sizeof(float)); }

std::span<const float> Network::forward(std::span<const float> x, std::size_t batch) {
  require(batch <= max_batch_, "forward: batch ", batch, " exceeds the network's max batch ",
          max_batch_);
  require(x.size() >= batch * input_size(), "forward: x has ", x.size(), " values, batch ", batch,
          " needs ", batch * input_size());
  std::span<const float> in = x;
  for (std::size_t l = 0; l < num_layers(); ++l) {
    std::span<float> out(outputs_[l].data(), batch * widths_[l + 1]);
    dense_forward(in, kernel(l), bias(l), out, batch, widths_[l], widths_[l + 1]);
    if (l + 1 < num_layers()) relu_forward(out);
    in = out;
  }
  return in;
}

std::span<float> Network::logits_grad(std::size_t batch) {
  require(batch <= max_batch_, "logits_grad: batch ", batch, " exceeds max batch ", max_batch_);
  return std::span<float>(dlogits_.data(), batch * output_size());
}

void Network::backward(std::span<const float> x, std::span<const float> dlogits,
                       std::size_t batch) {
  backward(x, dlogits, batch, 1, {});
}

void Network::backward(std::span<const float> x, std::span<const float> dlogits,
                       std::size_t batch, std::size_t chunks,
                       const std::function<void(std::size_t, std::size_t)>& ready) {
  require(batch <= max_batch_ && dlogits.size() >= batch * output_size(),
          "backward: dlogits has ", dlogits.size(), " values for batch ", batch);
  require(chunks >= 1, "backward: chunks must be >= 1");
  std::span<const float> delta = dlogits;
  for (std::size_t l = num_layers(); l-- > 1;) {
    const std::size_t in = widths_[l], out = widths_[l + 1];
    std::span<const float> layer_input(outputs_[l - 1].data(), batch * in);
    // Ping-pong between two buffers: delta (read) and the next delta (written).
    std::vector<float>& next = delta.data() == delta_a_.data() ? delta_b_ : delta_a_;
    std::span<float> dx(next.data(), batch * in);
    dense_backward(delta, layer_input, kernel(l), kernel_grad(l), bias_grad(l), dx, batch, in, out);
    relu_backward(layer_input, dx);
    delta = dx;
  }
  // The first layer: no input gradient; bias first, then the kernel by rows.
  const std::size_t in = widths_[0], out = widths_[1];
  dense_bias_grad(delta, bias_grad(0), batch, out);
  if (ready) ready(offsets_[0] + in * out, grads_.size());
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t row_begin = in * c / chunks, row_end = in * (c + 1) / chunks;
    dense_weight_grad_rows(delta, x, kernel_grad(0), batch, in, out, row_begin, row_end);
    if (ready) ready(offsets_[0] + row_begin * out, offsets_[0] + row_end * out);
  }
}

std::uint64_t hash_floats(std::span<const float> values) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  for (std::size_t i = 0; i < values.size_bytes(); ++i) {
    hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace dpmnist
