#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/nn/network.h"
#include "dpmnist/nn/softmax_cross_entropy.h"
#include "dpmnist/nn/sparse_input.h"
#include "support/reference_ops.h"

using namespace dpmnist;

namespace {

// x [B,I] with each entry nonzero with probability density, in (0,1].
std::vector<float> sparse_matrix(std::size_t rows, std::size_t cols, double density,
                                 std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(rows * cols, 0.0f);
  for (float& v : x) {
    if (rng.uniform() < density) v = rng.uniform(0.01f, 1.0f);
  }
  return x;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

}  // namespace

TEST(SparseBatch, RowsAndColumnsHoldExactlyTheNonzeros) {
  const std::size_t B = 9, I = 37;
  std::vector<float> x = sparse_matrix(B, I, 0.3, 1);
  std::fill_n(x.begin() + 2 * I, I, 0.0f);                  // an empty row
  for (std::size_t r = 0; r < B; ++r) x[r * I + 5] = 0.0f;  // an empty column
  SparseBatch s;
  s.reserve(B + 3, I);
  const std::size_t nnz = sparse_batch_build_rows(x, B, I, s);
  sparse_batch_build_columns(s);
  std::size_t expected = 0;
  for (float v : x) expected += v != 0.0f;
  EXPECT_EQ(nnz, expected);
  EXPECT_EQ(s.nonzeros(), expected);
  EXPECT_EQ(s.row_start[3], s.row_start[2]);
  EXPECT_EQ(s.col_start[6], s.col_start[5]);
  std::vector<float> from_rows(B * I, 0.0f), from_columns(B * I, 0.0f);
  for (std::size_t r = 0; r < B; ++r) {
    for (auto k = s.row_start[r]; k < s.row_start[r + 1]; ++k) {
      from_rows[r * I + s.row_column[k]] += s.row_value[k];
    }
  }
  for (std::size_t i = 0; i < I; ++i) {
    for (auto k = s.col_start[i]; k < s.col_start[i + 1]; ++k) {
      from_columns[s.col_row[k] * I + i] += s.col_value[k];
      if (k > s.col_start[i]) {
        EXPECT_LT(s.col_row[k - 1], s.col_row[k]) << "column " << i;
      }
    }
  }
  EXPECT_EQ(from_rows, x);
  EXPECT_EQ(from_columns, x);
  // The portable build (no AVX-512) lists the same nonzeros in the same order.
  SparseBatch portable;
  portable.reserve(B, I);
  EXPECT_EQ(sparse_batch_build_rows(x, B, I, portable, true), nnz);
  EXPECT_TRUE(
      std::equal(s.row_start.begin(), s.row_start.begin() + B + 1, portable.row_start.begin()));
  EXPECT_TRUE(
      std::equal(s.row_column.begin(), s.row_column.begin() + nnz, portable.row_column.begin()));
  EXPECT_TRUE(
      std::equal(s.row_value.begin(), s.row_value.begin() + nnz, portable.row_value.begin()));
  EXPECT_THROW(sparse_batch_build_rows(x, B + 4, I, s), std::exception);
}

TEST(SparseDense, ForwardMatchesTheReferenceAtEveryDensityAndWidth) {
  const std::size_t B = 7, I = 50;
  for (std::size_t O : {3u, 64u, 130u}) {
    for (double density : {0.0, 0.2, 1.0}) {
      const auto x = sparse_matrix(B, I, density, 2);
      const auto W = random_vector(I * O, 3), b = random_vector(O, 4);
      SparseBatch s;
      s.reserve(B, I);
      sparse_batch_build_rows(x, B, I, s);
      const auto expected = reference::dense(x, W, b, B, I, O);
      for (bool relu : {false, true}) {
        std::vector<float> y(B * O, 123.0f);  // garbage: forward overwrites
        sparse_dense_forward(s, W, b, y, O, relu);
        for (std::size_t i = 0; i < y.size(); ++i) {
          const float want = relu && expected[i] < 0 ? 0.0f : expected[i];
          ASSERT_NEAR(y[i], want, 1e-5) << "O " << O << " density " << density << " i " << i;
        }
      }
    }
  }
}

TEST(SparseDense, WeightGradientRowsAccumulateTheReferenceProduct) {
  const std::size_t B = 6, I = 41;
  for (std::size_t O : {5u, 64u, 100u}) {
    const auto x = sparse_matrix(B, I, 0.25, 5), dy = random_vector(B * O, 6);
    SparseBatch s;
    s.reserve(B, I);
    sparse_batch_build_rows(x, B, I, s);
    sparse_batch_build_columns(s);
    const auto product = reference::matmul(true, false, I, O, B, x, dy);  // x^T dy [I,O]
    const auto start = random_vector(I * O, 7);
    std::vector<float> dW = start;
    // Uneven row ranges covering [0, I): each row accumulated exactly once.
    for (auto [r0, r1] : {std::pair{0u, 10u}, {10u, 11u}, {11u, 11u}, {11u, 41u}}) {
      sparse_dense_weight_grad_rows(s, dy, dW, O, r0, r1);
    }
    for (std::size_t i = 0; i < dW.size(); ++i) {
      ASSERT_NEAR(dW[i], start[i] + product[i], 1e-5) << "O " << O << " i " << i;
    }
  }
}

// The whole network with the sparse first layer: the same gradients as the
// dense path (which test_network checks against central differences), also
// with input and hidden dropout, and the density threshold obeyed.
TEST(SparseDense, NetworkMatchesTheDensePathAndCentralDifferences) {
  const std::vector<std::size_t> widths = {30, 70, 8, 4};
  const std::size_t B = 5;
  const auto x = sparse_matrix(B, widths[0], 0.3, 8);
  const std::vector<std::uint8_t> labels = {0, 3, 1, 2, 3};
  for (float dropout : {0.0f, 0.3f}) {
    Network dense(widths, B), sparse(widths, B);
    dense.init_glorot(11);
    sparse.init_glorot(11);
    for (float& v : dense.bias(0)) v = 0.02f;
    for (float& v : sparse.bias(0)) v = 0.02f;
    dense.set_dropout(dropout, dropout);
    sparse.set_dropout(dropout, dropout);
    sparse.set_sparse_input(0.5f);
    auto gradients = [&](Network& net) {
      net.zero_grads();
      auto logits = net.forward_train(x, B, 77);
      auto dlogits = net.logits_grad(B);
      softmax_cross_entropy(logits, labels, B, 4, 1.0f / B, dlogits);
      net.backward(x, dlogits, B);
      return std::vector<float>(net.grads().begin(), net.grads().end());
    };
    const auto want = gradients(dense);
    const auto got = gradients(sparse);
    EXPECT_FALSE(dense.last_forward_sparse());
    EXPECT_TRUE(sparse.last_forward_sparse());
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-6) << "dropout " << dropout << " gradient " << i;
    }
  }
  // Denser than the threshold: the dense GEMM runs.
  Network net(widths, B);
  net.set_sparse_input(0.1f);
  net.forward(x, B);
  EXPECT_FALSE(net.last_forward_sparse());
  net.set_sparse_input(1.0f);
  net.forward(x, B);
  EXPECT_TRUE(net.last_forward_sparse());
}

// Several batches' factors summed a range at a time: the reference is
// sum_p x_p^T dy_p by a plain matmul. Ranges start and end inside rows and
// inside 128-float blocks; one batch is empty and one has an empty column.
TEST(SparseDense, FactoredGradientRangesMatchTheSumOfProducts) {
  const std::size_t I = 23;
  const std::vector<std::size_t> batches = {4, 0, 7};
  for (std::size_t O : {5u, 128u, 150u}) {
    std::vector<SparseBatch> sparse(batches.size());
    std::vector<std::vector<float>> dys;
    std::vector<GradientFactors> parts;
    std::vector<double> want(I * O, 0.0);
    for (std::size_t p = 0; p < batches.size(); ++p) {
      const std::size_t B = batches[p];
      auto x = sparse_matrix(B, I, 0.3, 20 + p);
      for (std::size_t r = 0; r < B; ++r) x[r * I + 3] = 0.0f;
      dys.push_back(random_vector(B * O, 30 + p));
      sparse[p].reserve(std::max<std::size_t>(B, 1), I);
      sparse_batch_build_rows(x, B, I, sparse[p]);
      sparse_batch_build_columns(sparse[p]);
      if (B > 0) {
        const auto product = reference::matmul(true, false, I, O, B, x, dys[p]);
        for (std::size_t i = 0; i < want.size(); ++i) want[i] += product[i];
      }
    }
    for (std::size_t p = 0; p < batches.size(); ++p) parts.push_back(factors_of(sparse[p], dys[p]));
    // Three ranges that cover [0, I*O) once, split off-row and off-block.
    const std::size_t cut1 = 2 * O + O / 3 + 1, cut2 = 17 * O + 2;
    std::vector<float> dW(I * O, -7.0f);
    for (auto [b, e] : {std::pair{std::size_t{0}, cut1}, {cut1, cut2}, {cut2, I * O}}) {
      sparse_factor_grad(parts, I, O, b, e, std::span<float>(dW).subspan(b, e - b));
    }
    for (std::size_t i = 0; i < dW.size(); ++i) {
      ASSERT_NEAR(dW[i], want[i], 1e-5) << "O " << O << " i " << i;
    }
    for (std::size_t o = 0; o < O; ++o) EXPECT_EQ(dW[3 * O + o], 0.0f) << "empty column, O " << O;
  }
  const std::vector<GradientFactors> none;
  std::vector<float> out(3);
  EXPECT_THROW(sparse_factor_grad(none, 2, 2, 2, 5, out), Error);  // 5 > 2 x 2
}

// With factors on, backward leaves the first kernel's gradient alone and its
// factors multiply out to the gradient the plain backward forms, under
// dropout too, and for a dense batch (the GEMM forward) as well.
TEST(SparseDense, NetworkFactorsMultiplyOutToTheFirstKernelsGradient) {
  const std::vector<std::size_t> widths = {30, 70, 4};
  const std::size_t B = 5, I = widths[0], O = widths[1];
  const std::vector<std::uint8_t> labels = {0, 3, 1, 2, 3};
  for (double density : {0.3, 0.9}) {
    const auto x = sparse_matrix(B, I, density, 8);
    for (float dropout : {0.0f, 0.3f}) {
      Network plain(widths, B), factored(widths, B);
      for (Network* net : {&plain, &factored}) {
        net->init_glorot(11);
        net->set_dropout(dropout, dropout);
        net->set_sparse_input(0.5f);
      }
      auto backward = [&](Network& net, Network::FirstKernelGrad first) {
        std::ranges::fill(net.grads(), 3.0f);
        net.zero_grads(first);
        auto logits = net.forward_train(x, B, 77);
        auto dlogits = net.logits_grad(B);
        softmax_cross_entropy(logits, labels, B, 4, 1.0f / B, dlogits);
        return net.backward(x, dlogits, B, first);
      };
      EXPECT_TRUE(backward(plain, Network::FirstKernelGrad::kAccumulate).col_start.empty());
      const GradientFactors f = backward(factored, Network::FirstKernelGrad::kFactors);
      ASSERT_EQ(f.col_start.size(), I + 1);
      std::vector<float> formed(I * O);
      sparse_factor_grad(std::span(&f, 1), I, O, 0, I * O, formed);
      for (std::size_t i = 0; i < I * O; ++i) {
        ASSERT_NEAR(formed[i], plain.kernel_grad(0)[i], 1e-6) << "density " << density << " " << i;
        ASSERT_EQ(factored.kernel_grad(0)[i], 3.0f) << "backward wrote the first kernel's gradient";
      }
      for (std::size_t i = I * O; i < plain.grads().size(); ++i) {
        ASSERT_EQ(factored.grads()[i], plain.grads()[i]) << "gradient " << i;
      }
    }
  }
  Network dense_only({4, 3, 2}, 2);
  const std::vector<float> x2(8, 1.0f);
  dense_only.forward(x2, 2);
  EXPECT_THROW(
      dense_only.backward(x2, dense_only.logits_grad(2), 2, Network::FirstKernelGrad::kFactors),
      Error);
}
