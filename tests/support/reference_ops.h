// Naive reference implementations (plain loops, double accumulation) that the
// optimised BLAS paths are tested against. Slow on purpose; tests only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace dpmnist::reference {

// C [M,N] = op(A) op(B), row-major; A stored [M,K] or [K,M] when trans_a.
std::vector<float> matmul(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K,
                          std::span<const float> A, std::span<const float> B);

// y [B,O] = x [B,I] W [I,O] + b [O]
std::vector<float> dense(std::span<const float> x, std::span<const float> W,
                         std::span<const float> b, std::size_t batch, std::size_t in,
                         std::size_t out);

// Mean softmax cross-entropy over the batch, in double.
double softmax_cross_entropy(std::span<const float> logits, std::span<const std::uint8_t> labels,
                             std::size_t batch, std::size_t classes);

// Forward of a Flatten/Dense/ReLU network with flat params laid out as
// dpmnist::Network lays them out; returns logits [B,classes].
std::vector<float> network_forward(const std::vector<std::size_t>& widths,
                                   std::span<const float> params, std::span<const float> x,
                                   std::size_t batch);

}  // namespace dpmnist::reference

namespace dpmnist::reference {

// Mean softmax cross-entropy of the network entirely in double (for gradient
// checks, where float rounding would swamp the finite differences).
double network_loss(const std::vector<std::size_t>& widths, std::span<const float> params,
                    std::span<const float> x, std::span<const std::uint8_t> labels,
                    std::size_t batch);

}  // namespace dpmnist::reference
