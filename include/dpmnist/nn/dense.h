// Fully connected layer y = x W + b on a contiguous batch, through one GEMM
// each for forward, weight gradient and input gradient. Holds no state: the
// network passes slices of its flat parameter and gradient buffers.
#pragma once

#include <cstddef>
#include <span>

namespace dpmnist {

// x [B,I] in; W [I,O] in; b [O] in; y [B,O] out (overwritten).
void dense_forward(std::span<const float> x, std::span<const float> W, std::span<const float> b,
                   std::span<float> y, std::size_t batch, std::size_t in, std::size_t out);

// dy [B,O] in; x [B,I] in; W [I,O] in.
// dW [I,O] and db [O] are ACCUMULATED into (+=), so zero them once per step.
// dx [B,I] is OVERWRITTEN; pass an empty span to skip it (the first layer).
void dense_backward(std::span<const float> dy, std::span<const float> x, std::span<const float> W,
                    std::span<float> dW, std::span<float> db, std::span<float> dx,
                    std::size_t batch, std::size_t in, std::size_t out);

// The two halves of the parameter gradient, for a layer whose kernel gradient
// may be left to the caller (Network's first layer, as factors):
// dy [B,O] in; db [O] += column sums of dy.
void dense_bias_grad(std::span<const float> dy, std::span<float> db, std::size_t batch,
                     std::size_t out);
// dy [B,O] in; x [B,I] in; rows [row_begin, row_end) of dW [I,O] += x[:, rows]^T dy.
void dense_weight_grad_rows(std::span<const float> dy, std::span<const float> x,
                            std::span<float> dW, std::size_t batch, std::size_t in, std::size_t out,
                            std::size_t row_begin, std::size_t row_end);

}  // namespace dpmnist
