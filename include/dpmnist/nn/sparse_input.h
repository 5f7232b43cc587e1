// The first dense layer over an input batch that is mostly zeros (81% of MNIST
// pixels are 0): the batch is held as its nonzeros by row (CSR, for forward)
// and by column (CSC, for the weight gradient), and the kernels skip the
// zeros. Same function as dense_forward / dense_weight_grad_rows for finite
// weights (0 x Inf is skipped, not NaN), summed in another order; no input
// gradient (the first layer needs none).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace dpmnist {

struct SparseBatch {
  std::size_t batch = 0, width = 0;       // B, I
  std::vector<std::uint32_t> row_start;   // [B+1] row r's nonzeros: [row_start[r], row_start[r+1])
  std::vector<std::uint32_t> row_column;  // [B*I capacity] column of each nonzero, by row
  std::vector<float> row_value;           // [B*I capacity]
  std::vector<std::uint32_t> col_start;   // [I+1] the same by column, built on request
  std::vector<std::uint32_t> col_row;     // [B*I capacity]
  std::vector<float> col_value;           // [B*I capacity]
  std::vector<std::uint32_t> col_cursor;  // [I] scratch of the column build

  // Allocates for up to max_batch rows of width values (never again after).
  void reserve(std::size_t max_batch, std::size_t width);
  std::size_t nonzeros() const { return row_start.empty() ? 0 : row_start[batch]; }
};

// x [B,I] in; sparse out (overwritten): x's nonzeros by row. Returns how many.
// AVX-512 compress where the CPU has it, unless portable_only (for tests).
std::size_t sparse_batch_build_rows(std::span<const float> x, std::size_t batch, std::size_t in,
                                    SparseBatch& sparse, bool portable_only = false);
// sparse in/out: adds the by-column form of the rows already built.
void sparse_batch_build_columns(SparseBatch& sparse);

// sparse x [B,I] in (rows); W [I,O] in; b [O] in; y [B,O] out (overwritten):
// y = x W + b, then max(y, 0) when relu.
void sparse_dense_forward(const SparseBatch& x, std::span<const float> W, std::span<const float> b,
                          std::span<float> y, std::size_t out, bool relu);

// sparse x [B,I] in (columns); dy [B,O] in; rows [row_begin, row_end) of
// dW [I,O] += x[:, rows]^T dy (ACCUMULATED).
void sparse_dense_weight_grad_rows(const SparseBatch& x, std::span<const float> dy,
                                   std::span<float> dW, std::size_t out, std::size_t row_begin,
                                   std::size_t row_end);

// One batch's factors of the first kernel's gradient dW [I,O] = x^T dy: x's
// nonzeros by column and dy [B,O]. A view (of a SparseBatch and the layer's
// output gradient, or of memory another rank shares); the summed gradient
// of several batches is then formed from their factors, a slice at a time,
// without any rank forming its own full dW (sufficient factors, as in
// Xie et al., "Distributed Machine Learning via Sufficient Factor Broadcasting").
struct GradientFactors {
  std::span<const std::uint32_t> col_start;  // [I+1]; empty: no factors
  std::span<const std::uint32_t> col_row;    // [col_start[I]] sample of each nonzero, by column
  std::span<const float> col_value;          // [col_start[I]]
  std::span<const float> dy;                 // [B,O]
};
GradientFactors factors_of(const SparseBatch& x, std::span<const float> dy);

// Room for one batch's factors of a kernel [rows, width], batch <= max_batch,
// packed into flat words and floats (memory another rank reads). All zero:
// no factors.
struct FactorShape {
  std::size_t rows = 0, width = 0, max_batch = 0;
  // [1] batch, [rows + 1] col_start, [max_batch rows] col_row.
  std::size_t words() const { return rows > 0 ? 1 + rows + 1 + max_batch * rows : 0; }
  // [max_batch rows] col_value, [max_batch width] dy.
  std::size_t floats() const { return max_batch * (rows + width); }
};
// factors in (of a kernel of shape's rows and width); words [shape.words()]
// and floats [shape.floats()] out. Sizes are checked; the entries are trusted
// (whoever unpacks reads them as they are).
void pack_factors(const GradientFactors& factors, const FactorShape& shape,
                  std::span<std::uint32_t> words, std::span<float> floats);
// A view of packed factors (counts clamped to the shape's room, so corrupt
// words cannot read past it).
GradientFactors unpack_factors(const FactorShape& shape, std::span<const std::uint32_t> words,
                               std::span<const float> floats);

// parts [P] in; floats [begin, end) of dW [I,O] (flattened: they may start and
// end inside rows) = sum over parts, in order, of part.x^T part.dy, each
// element summed from zero over the parts' nonzeros in column order;
// out [end - begin] (OVERWRITTEN). Every part's col_row entries must be
// rows of its dy.
void sparse_factor_grad(std::span<const GradientFactors> parts, std::size_t in, std::size_t out,
                        std::size_t begin, std::size_t end, std::span<float> dW_range);

}  // namespace dpmnist
