#include "dpmnist/nn/dense.h"

#include <algorithm>

#include "dpmnist/core/blas.h"
#include "dpmnist/core/error.h"

namespace dpmnist {

void dense_forward(std::span<const float> x, std::span<const float> W, std::span<const float> b,
                   std::span<float> y, std::size_t batch, std::size_t in, std::size_t out) {
  // B batch, I in, O out.
  const std::size_t B = batch, I = in, O = out;
  require(x.size() >= B * I && W.size() == I * O && b.size() == O && y.size() >= B * O,
          "dense_forward: sizes x ", x.size(), " W ", W.size(), " b ", b.size(), " y ", y.size(),
          " do not fit B=", B, " I=", I, " O=", O);
  // Seed every row with the bias, then let GEMM accumulate x W on top (beta = 1).
  for (std::size_t r = 0; r < B; ++r) std::copy(b.begin(), b.end(), y.begin() + r * O);
  gemm(Transpose::kNo, Transpose::kNo, B, O, I, 1.0f, x, W, 1.0f, y);
}

void dense_backward(std::span<const float> dy, std::span<const float> x, std::span<const float> W,
                    std::span<float> dW, std::span<float> db, std::span<float> dx,
                    std::size_t batch, std::size_t in, std::size_t out) {
  // B batch, I in, O out.
  const std::size_t B = batch, I = in, O = out;
  require(dy.size() >= B * O && x.size() >= B * I && W.size() == I * O && dW.size() == I * O &&
              db.size() == O && (dx.empty() || dx.size() >= B * I),
          "dense_backward: sizes do not fit B=", B, " I=", I, " O=", O);
  if (B == 0) return;
  dense_weight_grad_rows(dy, x, dW, B, I, O, 0, I);
  dense_bias_grad(dy, db, B, O);
  // dx [B,I] = dy [B,O] W^T [O,I]
  if (!dx.empty()) gemm(Transpose::kNo, Transpose::kYes, B, I, O, 1.0f, dy, W, 0.0f, dx);
}

void dense_bias_grad(std::span<const float> dy, std::span<float> db, std::size_t batch,
                     std::size_t out) {
  // B batch, O out.
  const std::size_t B = batch, O = out;
  require(dy.size() >= B * O && db.size() == O, "dense_bias_grad: sizes do not fit B=", B,
          " O=", O);
  for (std::size_t r = 0; r < B; ++r) {
    const float* row = dy.data() + r * O;
    for (std::size_t o = 0; o < O; ++o) db[o] += row[o];
  }
}

void dense_weight_grad_rows(std::span<const float> dy, std::span<const float> x,
                            std::span<float> dW, std::size_t batch, std::size_t in, std::size_t out,
                            std::size_t row_begin, std::size_t row_end) {
  // B batch, I in, O out; rows [r0, r1) of dW.
  const std::size_t B = batch, I = in, O = out, r0 = row_begin, r1 = row_end;
  require(dy.size() >= B * O && x.size() >= B * I && dW.size() == I * O && r0 <= r1 && r1 <= I,
          "dense_weight_grad_rows: rows [", r0, ",", r1, ") of B=", B, " I=", I, " O=", O);
  if (B == 0) return;
  // dW[r0:r1, :] [r1-r0,O] += (x[:, r0:r1])^T [r1-r0,B] dy [B,O]; x's columns
  // r0..r1 are a block of the [B,I] matrix with row stride I.
  gemm_strided(Transpose::kYes, Transpose::kNo, r1 - r0, O, B, 1.0f, x.data() + r0, I, dy.data(), O,
               1.0f, dW.data() + r0 * O, O);
}

}  // namespace dpmnist
