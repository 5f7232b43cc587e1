#include "support/reference_ops.h"

#include <algorithm>
#include <cmath>

namespace dpmnist::reference {

std::vector<float> matmul(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K,
                          std::span<const float> A, std::span<const float> B) {
  std::vector<float> C(M * N);
  for (std::size_t i = 0; i < M; ++i) {
    for (std::size_t j = 0; j < N; ++j) {
      double sum = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double a = trans_a ? A[k * M + i] : A[i * K + k];
        const double b = trans_b ? B[j * K + k] : B[k * N + j];
        sum += a * b;
      }
      C[i * N + j] = static_cast<float>(sum);
    }
  }
  return C;
}

std::vector<float> dense(std::span<const float> x, std::span<const float> W,
                         std::span<const float> b, std::size_t batch, std::size_t in,
                         std::size_t out) {
  std::vector<float> y = matmul(false, false, batch, out, in, x, W);
  for (std::size_t r = 0; r < batch; ++r) {
    for (std::size_t o = 0; o < out; ++o) y[r * out + o] += b[o];
  }
  return y;
}

double softmax_cross_entropy(std::span<const float> logits, std::span<const std::uint8_t> labels,
                             std::size_t batch, std::size_t classes) {
  double total = 0;
  for (std::size_t r = 0; r < batch; ++r) {
    double denom = 0;
    for (std::size_t c = 0; c < classes; ++c) denom += std::exp(double{logits[r * classes + c]});
    total += std::log(denom) - double{logits[r * classes + labels[r]]};
  }
  return total / static_cast<double>(batch);
}

std::vector<float> network_forward(const std::vector<std::size_t>& widths,
                                   std::span<const float> params, std::span<const float> x,
                                   std::size_t batch) {
  std::vector<float> activation(x.begin(),
                                x.begin() + static_cast<std::ptrdiff_t>(batch * widths[0]));
  std::size_t offset = 0;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    const std::size_t in = widths[l], out = widths[l + 1];
    std::vector<float> y = dense(activation, params.subspan(offset, in * out),
                                 params.subspan(offset + in * out, out), batch, in, out);
    offset += in * out + out;
    if (l + 2 < widths.size()) {
      for (float& v : y) v = std::max(v, 0.0f);
    }
    activation = std::move(y);
  }
  return activation;
}

}  // namespace dpmnist::reference

namespace dpmnist::reference {

double network_loss(const std::vector<std::size_t>& widths, std::span<const float> params,
                    std::span<const float> x, std::span<const std::uint8_t> labels,
                    std::size_t batch) {
  std::vector<double> activation(x.begin(),
                                 x.begin() + static_cast<std::ptrdiff_t>(batch * widths[0]));
  std::size_t offset = 0;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    const std::size_t in = widths[l], out = widths[l + 1];
    std::vector<double> y(batch * out);
    for (std::size_t r = 0; r < batch; ++r) {
      for (std::size_t o = 0; o < out; ++o) {
        double sum = params[offset + in * out + o];
        for (std::size_t i = 0; i < in; ++i)
          sum += activation[r * in + i] * params[offset + i * out + o];
        y[r * out + o] = (l + 2 < widths.size()) ? std::max(sum, 0.0) : sum;
      }
    }
    offset += in * out + out;
    activation = std::move(y);
  }
  const std::size_t C = widths.back();
  double total = 0;
  for (std::size_t r = 0; r < batch; ++r) {
    const double z_max =
        *std::max_element(activation.begin() + r * C, activation.begin() + (r + 1) * C);
    double denom = 0;
    for (std::size_t c = 0; c < C; ++c) denom += std::exp(activation[r * C + c] - z_max);
    total += std::log(denom) - (activation[r * C + labels[r]] - z_max);
  }
  return total / static_cast<double>(batch);
}

}  // namespace dpmnist::reference
