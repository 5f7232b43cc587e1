#include "dpmnist/nn/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dpmnist/core/error.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/nn/dense.h"
#include "dpmnist/nn/relu.h"

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
  own_grads_.assign(offset + 1, 0.0f);
  grads_ = own_grads_;
  dlogits_.assign(max_batch_ * output_size(), 0.0f);
  delta_a_.assign(max_batch_ * std::max(widest_hidden, output_size()), 0.0f);
  delta_b_.assign(delta_a_.size(), 0.0f);
}

std::span<float> Network::slice(std::span<float> all, std::size_t l, bool bias_part) {
  require(l < num_layers(), "layer ", l, " outside [0,", num_layers(), ")");
  const std::size_t kernel_size = widths_[l] * widths_[l + 1];
  return bias_part ? all.subspan(offsets_[l] + kernel_size, widths_[l + 1])
                   : all.subspan(offsets_[l], kernel_size);
}

void Network::init_glorot(std::uint64_t seed) {
  Rng rng(seed);
  for (std::size_t l = 0; l < num_layers(); ++l) {
    const auto limit =
        static_cast<float>(std::sqrt(6.0 / static_cast<double>(widths_[l] + widths_[l + 1])));
    for (float& w : kernel(l)) w = rng.uniform(-limit, limit);
    std::ranges::fill(bias(l), 0.0f);
  }
}

void Network::bind_gradients(std::span<float> buffer) {
  require(buffer.size() == grads_.size(), "bind_gradients: buffer of ", buffer.size(),
          " floats, the network needs ", grads_.size());
  std::ranges::copy(grads_, buffer.begin());
  grads_ = buffer;
  own_grads_ = {};
}

void Network::zero_grads(FirstKernelGrad first) {
  const std::size_t skipped = first == FirstKernelGrad::kFactors ? widths_[0] * widths_[1] : 0;
  std::memset(grads_.data() + skipped, 0, (grads_.size() - skipped) * sizeof(float));
}

void Network::set_dropout(float hidden_rate, float input_rate) {
  require(hidden_rate >= 0 && hidden_rate < 1 && input_rate >= 0 && input_rate < 1,
          "dropout rates must be in [0,1), got hidden ", hidden_rate, " input ", input_rate);
  dropout_ = hidden_rate;
  input_dropout_ = input_rate;
  masks_.clear();
  for (std::size_t l = 0; l + 1 < num_layers(); ++l)
    masks_.emplace_back(max_batch_ * widths_[l + 1]);
  dropped_input_.assign(input_rate > 0 ? max_batch_ * input_size() : 0, 0.0f);
}

void Network::set_sparse_input(float max_density) {
  require(max_density >= 0 && max_density <= 1, "sparse input: max density must be in [0,1], got ",
          max_density);
  sparse_max_density_ = max_density;
  if (max_density > 0) {
    sparse_.reserve(max_batch_, input_size());
  } else {
    sparse_ = SparseBatch{};
  }
}

void Network::apply_max_norm(float max_norm) {
  require(max_norm > 0, "max-norm must be positive, got ", max_norm);
  for (std::size_t l = 0; l + 1 < num_layers(); ++l) {
    const std::size_t in = widths_[l], out = widths_[l + 1];
    std::span<float> W = kernel(l);
    column_norms_.assign(out, 0.0f);
    for (std::size_t i = 0; i < in; ++i) {
      for (std::size_t o = 0; o < out; ++o) column_norms_[o] += W[i * out + o] * W[i * out + o];
    }
    for (std::size_t o = 0; o < out; ++o) {
      const float norm = std::sqrt(column_norms_[o]);
      column_norms_[o] = norm > max_norm ? max_norm / norm : 1.0f;
    }
    for (std::size_t i = 0; i < in; ++i) {
      for (std::size_t o = 0; o < out; ++o) W[i * out + o] *= column_norms_[o];
    }
  }
}

namespace {

// mask [n] out: 1/(1-rate) with probability 1-rate, else 0; values [n] *= mask.
void drop(std::span<float> values, std::span<float> mask, float rate, Rng& rng) {
  const float keep_scale = 1.0f / (1.0f - rate);
  for (std::size_t i = 0; i < values.size(); ++i) {
    mask[i] = rng.uniform() < rate ? 0.0f : keep_scale;
    values[i] *= mask[i];
  }
}

}  // namespace

std::span<const float> Network::forward(std::span<const float> x, std::size_t batch) {
  return forward_impl(x, batch, nullptr);
}

std::span<const float> Network::forward_train(std::span<const float> x, std::size_t batch,
                                              std::uint64_t seed) {
  return forward_impl(x, batch, &seed);
}

std::span<const float> Network::forward_impl(std::span<const float> x, std::size_t batch,
                                             const std::uint64_t* dropout_seed) {
  require(batch <= max_batch_, "forward: batch ", batch, " exceeds the network's max batch ",
          max_batch_);
  require(x.size() >= batch * input_size(), "forward: x has ", x.size(), " values, batch ", batch,
          " needs ", batch * input_size());
  masked_ = dropout_seed != nullptr && (dropout_ > 0 || input_dropout_ > 0);
  std::span<const float> in = x;
  if (masked_ && input_dropout_ > 0) {
    std::span<float> dropped(dropped_input_.data(), batch * input_size());
    std::copy_n(x.begin(), dropped.size(), dropped.begin());
    // The input's mask is not kept: backward needs only the dropped input.
    Rng rng(derive_seed({*dropout_seed, 0x1A}));
    const float keep_scale = 1.0f / (1.0f - input_dropout_);
    for (float& v : dropped) v = rng.uniform() < input_dropout_ ? 0.0f : v * keep_scale;
    in = dropped;
  }
  sparse_used_ = false;
  // Factors need the nonzeros of every batch, even an empty or a dense one.
  if (sparse_max_density_ > 0) {
    const std::size_t nonzeros = sparse_batch_build_rows(in, batch, input_size(), sparse_);
    sparse_used_ = static_cast<double>(nonzeros) <=
                   sparse_max_density_ * static_cast<double>(batch * input_size());
  }
  for (std::size_t l = 0; l < num_layers(); ++l) {
    std::span<float> out(outputs_[l].data(), batch * widths_[l + 1]);
    const bool hidden = l + 1 < num_layers();
    if (l == 0 && sparse_used_) {
      sparse_dense_forward(sparse_, kernel(0), bias(0), out, widths_[1], hidden);
    } else {
      dense_forward(in, kernel(l), bias(l), out, batch, widths_[l], widths_[l + 1]);
      if (hidden) relu_forward(out);
    }
    if (hidden) {
      if (masked_ && dropout_ > 0) {
        Rng rng(derive_seed({*dropout_seed, l}));
        drop(out, std::span<float>(masks_[l].data(), out.size()), dropout_, rng);
      }
    }
    in = out;
  }
  return in;
}

std::span<float> Network::logits_grad(std::size_t batch) {
  require(batch <= max_batch_, "logits_grad: batch ", batch, " exceeds max batch ", max_batch_);
  return std::span<float>(dlogits_.data(), batch * output_size());
}

GradientFactors Network::backward(std::span<const float> x, std::span<const float> dlogits,
                                  std::size_t batch, FirstKernelGrad first) {
  require(batch <= max_batch_ && dlogits.size() >= batch * output_size(), "backward: dlogits has ",
          dlogits.size(), " values for batch ", batch);
  const bool factors = first == FirstKernelGrad::kFactors;
  require(!factors || sparse_max_density_ > 0,
          "backward: the first kernel's gradient factors need the sparse input (set_sparse_input)");
  std::span<const float> delta = dlogits;
  for (std::size_t l = num_layers(); l-- > 1;) {
    const std::size_t in = widths_[l], out = widths_[l + 1];
    std::span<const float> layer_input(outputs_[l - 1].data(), batch * in);
    // Ping-pong between two buffers: delta (read) and the next delta (written).
    std::vector<float>& next = delta.data() == delta_a_.data() ? delta_b_ : delta_a_;
    std::span<float> dx(next.data(), batch * in);
    dense_backward(delta, layer_input, kernel(l), kernel_grad(l), bias_grad(l), dx, batch, in, out);
    // layer_input = relu(z) * mask: through the mask (its scale), then the ReLU.
    if (masked_ && dropout_ > 0) {
      const float* mask = masks_[l - 1].data();
      for (std::size_t i = 0; i < dx.size(); ++i) dx[i] *= mask[i];
    }
    relu_backward(layer_input, dx);
    delta = dx;
  }
  // The first layer: no input gradient.
  const std::size_t in = widths_[0], out = widths_[1];
  if (masked_ && input_dropout_ > 0) x = std::span<const float>(dropped_input_.data(), batch * in);
  dense_bias_grad(delta, bias_grad(0), batch, out);
  // The sparse path reuses the last forward's nonzeros: x must be that batch,
  // which the dense path assumes too (it reads the stored activations).
  const bool sparse = sparse_used_ || factors;
  require(!sparse || sparse_.batch == batch, "backward: batch ", batch,
          " is not the last forward's ", sparse_.batch);
  if (sparse) sparse_batch_build_columns(sparse_);
  // Under factors the kernel's gradient is x^T delta, left to the caller.
  if (factors) return factors_of(sparse_, delta);
  if (sparse) {
    sparse_dense_weight_grad_rows(sparse_, delta, kernel_grad(0), out, 0, in);
  } else {
    dense_weight_grad_rows(delta, x, kernel_grad(0), batch, in, out, 0, in);
  }
  return {};
}

}  // namespace dpmnist
