// A Flatten -> Dense(+ReLU) ... -> Dense(logits) network over ONE flat
// parameter buffer and ONE flat gradient buffer; each layer's kernel [in,out]
// and bias [out] are consecutive slices of it. Workspaces are allocated once
// for a maximum batch, so forward and backward never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dpmnist/nn/sparse_input.h"

namespace dpmnist {

class Network {
 public:
  // widths = {input, hidden..., classes}, e.g. {784, 128, 10}.
  Network(std::vector<std::size_t> widths, std::size_t max_batch);
  Network(const Network&) = delete;  // holds spans into its own buffers
  Network& operator=(const Network&) = delete;

  const std::vector<std::size_t>& widths() const { return widths_; }
  std::size_t num_layers() const { return widths_.size() - 1; }
  std::size_t max_batch() const { return max_batch_; }
  std::size_t input_size() const { return widths_.front(); }
  std::size_t output_size() const { return widths_.back(); }

  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_.first(params_.size()); }
  std::span<const float> grads() const { return grads_.first(params_.size()); }
  // grads() plus one spare float after them, the trainer's control word: it
  // travels in the same allreduce, so ranks can agree on stopping for free.
  std::span<float> grads_and_control() { return grads_; }
  // Slices of params()/grads() for layer l: kernel [in,out], bias [out].
  std::span<float> kernel(std::size_t l) { return slice(params_, l, false); }
  std::span<float> bias(std::size_t l) { return slice(params_, l, true); }
  std::span<float> kernel_grad(std::size_t l) { return slice(grads_, l, false); }
  std::span<float> bias_grad(std::size_t l) { return slice(grads_, l, true); }

  // Moves the gradients (and control word) into buffer [params().size() + 1],
  // e.g. memory the node's ranks share, which must outlive the network.
  void bind_gradients(std::span<float> buffer);

  // What backward does with the first kernel's gradient dW0 = x^T dy.
  enum class FirstKernelGrad {
    kAccumulate,  // adds it into grads(), like every other gradient
    kFactors,     // leaves grads()'s dW0 alone (zero_grads too) and returns its
                  // factors instead, the batch's nonzeros by column and dy
                  // (sparse_input.h), for a sum that forms dW0 from every
                  // rank's factors. Needs the sparse input.
  };

  // Glorot-uniform kernels (limit sqrt(6/(in+out)), Keras's default), zero biases.
  void init_glorot(std::uint64_t seed);
  // Zeroes grads_and_control() with one memset (all but dW0 under kFactors,
  // which backward then never writes).
  void zero_grads(FirstKernelGrad first = FirstKernelGrad::kAccumulate);

  // Inverted dropout for training: each hidden unit (and, with input_rate,
  // each input pixel) is zeroed with that probability and the survivors are
  // scaled by 1/(1-rate). Off (0, 0) unless set; never used by forward().
  void set_dropout(float hidden_rate, float input_rate);
  // The first layer skips zero inputs (sparse_input.h) in every batch whose
  // share of nonzero inputs is at most max_density; 0 (the default) keeps the
  // dense GEMM always. Allocates once, here.
  void set_sparse_input(float max_density);
  // Whether the last forward took the sparse path.
  bool last_forward_sparse() const { return sparse_used_; }
  // Max-norm constraint: every hidden unit's incoming weight vector (a column
  // of its kernel) is scaled down to L2 norm max_norm if longer.
  void apply_max_norm(float max_norm);

  // x [B,input] in; returns logits [B,classes], valid until the next forward.
  // Inference: no dropout.
  std::span<const float> forward(std::span<const float> x, std::size_t batch);
  // The same with dropout, its masks drawn from `seed` (so a resumed run
  // draws the same ones); backward() then follows the masks.
  std::span<const float> forward_train(std::span<const float> x, std::size_t batch,
                                       std::uint64_t seed);
  // Scratch [B,classes] for the loss to write dlogits into (no allocation).
  std::span<float> logits_grad(std::size_t batch);
  // x [B,input] in (the same x as the last forward); dlogits [B,classes] in.
  // ACCUMULATES into grads(), dW0 as `first` says; the first layer's input
  // gradient is not computed. Returns dW0's factors under kFactors (views of
  // this network's buffers, valid until the next forward), else nothing.
  GradientFactors backward(std::span<const float> x, std::span<const float> dlogits,
                           std::size_t batch, FirstKernelGrad first = FirstKernelGrad::kAccumulate);

 private:
  std::span<float> slice(std::span<float> buffer, std::size_t l, bool bias_part);
  std::span<const float> forward_impl(std::span<const float> x, std::size_t batch,
                                      const std::uint64_t* dropout_seed);

  std::vector<std::size_t> widths_;
  std::size_t max_batch_;
  std::vector<std::size_t> offsets_;  // start of layer l's kernel in params_
  std::vector<float> params_;
  std::vector<float> own_grads_;  // the gradients' storage unless bind_gradients moved them
  std::span<float> grads_;        // [params + 1]: own_grads_ or the bound buffer
  std::vector<std::vector<float>> outputs_;  // [L][max_batch * widths_[l+1]], post-activation
  std::vector<float> dlogits_;               // [max_batch * classes]
  float dropout_ = 0, input_dropout_ = 0;
  bool masked_ = false;                    // the last forward applied dropout masks
  std::vector<std::vector<float>> masks_;  // [hidden l][max_batch * widths_[l+1]]: 0 or 1/(1-rate)
  std::vector<float> dropped_input_;       // [max_batch * input]: x after input dropout
  std::vector<float> column_norms_;        // [widest layer] scratch for apply_max_norm
  std::vector<float> delta_a_, delta_b_;   // [max_batch * max hidden width] each
  float sparse_max_density_ = 0;
  bool sparse_used_ = false;  // the last forward's first layer ran on sparse_
  SparseBatch sparse_;        // the last forward's first-layer input, its nonzeros
};

}  // namespace dpmnist
