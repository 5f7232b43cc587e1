#include "dpmnist/nn/sparse_input.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <limits>

#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"

namespace dpmnist {

namespace {

// Outputs are computed in blocks of kBlock floats, eight 16-float vectors held
// in registers across one row's (or one column's) nonzeros. GCC's vector
// extension says so directly; it lowers to AVX-512 (8 zmm), AVX2 (16 ymm) or
// SSE (32 xmm, so the portable clone spills) per clone.
constexpr std::size_t kLanes = 16, kVectors = 8, kBlock = kVectors * kLanes;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

// Every helper is inlined into the clones below, so it takes their ISA.
#define DPMNIST_INLINE inline __attribute__((always_inline))

DPMNIST_INLINE Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
DPMNIST_INLINE void store(float* p, Vec v) {
  std::memcpy(p, &v, sizeof(v));
}

// kVectors accumulators of kLanes floats, kept in registers.
struct Block {
  Vec a[kVectors];
  DPMNIST_INLINE void zero() {
#pragma GCC unroll 16
    for (std::size_t v = 0; v < kVectors; ++v) a[v] = Vec{};
  }
  DPMNIST_INLINE void load_from(const float* p) {
#pragma GCC unroll 16
    for (std::size_t v = 0; v < kVectors; ++v) a[v] = load(p + v * kLanes);
  }
  DPMNIST_INLINE void add_scaled(float s, const float* p) {
#pragma GCC unroll 16
    for (std::size_t v = 0; v < kVectors; ++v) a[v] += s * load(p + v * kLanes);
  }
  DPMNIST_INLINE void store_to(float* p, bool relu) const {
    const Vec zero = {};
#pragma GCC unroll 16
    for (std::size_t v = 0; v < kVectors; ++v)
      store(p + v * kLanes, relu ? (a[v] > zero ? a[v] : zero) : a[v]);
  }
};

// acc [n] = start [n] + sum over k in [k0,k1) of value[k] * rows[index[k] * O + 0..n),
// then max(acc, 0) when relu; out [n] overwritten (it may be start).
DPMNIST_INLINE void gather_scaled_rows(const float* start, const float* __restrict rows,
                                       std::size_t O, const std::uint32_t* __restrict index,
                                       const float* __restrict value, std::uint32_t k0,
                                       std::uint32_t k1, std::size_t n, bool relu, float* out) {
  if (n == kBlock) {
    Block acc;
    acc.load_from(start);
    for (std::uint32_t k = k0; k < k1; ++k) acc.add_scaled(value[k], rows + index[k] * O);
    acc.store_to(out, relu);
    return;
  }
  float acc[kBlock];
  std::copy_n(start, n, acc);
  for (std::uint32_t k = k0; k < k1; ++k) {
    const float* row = rows + index[k] * O;
    for (std::size_t j = 0; j < n; ++j) acc[j] += value[k] * row[j];
  }
  for (std::size_t j = 0; j < n; ++j) out[j] = relu && !(acc[j] > 0.0f) ? 0.0f : acc[j];
}

DPMNIST_CLONES void forward_rows(const SparseBatch& x, const float* __restrict W,
                                 const float* __restrict b, float* __restrict y, std::size_t O,
                                 bool relu) {
  // B batch, O out; row r of y gathers the rows of W [I,O] at r's lit pixels.
  const std::size_t B = x.batch;
  const std::uint32_t* column = x.row_column.data();
  const float* value = x.row_value.data();
  for (std::size_t r = 0; r < B; ++r) {
    for (std::size_t o0 = 0; o0 < O; o0 += kBlock) {
      gather_scaled_rows(b + o0, W + o0, O, column, value, x.row_start[r], x.row_start[r + 1],
                         std::min(kBlock, O - o0), relu, y + r * O + o0);
    }
  }
}

DPMNIST_CLONES void weight_grad_rows(const SparseBatch& x, const float* __restrict dy,
                                     float* __restrict dW, std::size_t O, std::size_t r0,
                                     std::size_t r1) {
  // O out; row i of dW gathers the rows of dy [B,O] whose sample has pixel i lit.
  const std::uint32_t* sample = x.col_row.data();
  const float* value = x.col_value.data();
  for (std::size_t i = r0; i < r1; ++i) {
    const std::uint32_t k0 = x.col_start[i], k1 = x.col_start[i + 1];
    if (k0 == k1) continue;
    for (std::size_t o0 = 0; o0 < O; o0 += kBlock) {
      float* row = dW + i * O + o0;
      gather_scaled_rows(row, dy + o0, O, sample, value, k0, k1, std::min(kBlock, O - o0), false,
                         row);
    }
  }
}

// Block [o0, o0 + n) of row i of sum_p x_p^T dy_p into dst (n floats).
DPMNIST_INLINE void factor_block(const GradientFactors* parts, std::size_t P, std::size_t i,
                                 std::size_t O, std::size_t o0, std::size_t n, float* dst) {
  if (n == kBlock) {
    Block acc;
    acc.zero();
    for (std::size_t p = 0; p < P; ++p) {
      const std::uint32_t* sample = parts[p].col_row.data();
      const float* value = parts[p].col_value.data();
      const float* dy = parts[p].dy.data() + o0;
      for (std::uint32_t k = parts[p].col_start[i]; k < parts[p].col_start[i + 1]; ++k)
        acc.add_scaled(value[k], dy + sample[k] * O);
    }
    acc.store_to(dst, false);
    return;
  }
  float acc[kBlock] = {};
  for (std::size_t p = 0; p < P; ++p) {
    for (std::uint32_t k = parts[p].col_start[i]; k < parts[p].col_start[i + 1]; ++k) {
      const float* row = parts[p].dy.data() + parts[p].col_row[k] * O + o0;
      for (std::size_t j = 0; j < n; ++j) acc[j] += parts[p].col_value[k] * row[j];
    }
  }
  std::copy_n(acc, n, dst);
}

DPMNIST_CLONES void factor_grad_range(const GradientFactors* parts, std::size_t P, std::size_t O,
                                      std::size_t begin, std::size_t end, float* out) {
  // Block by block over the rows [begin, end) touches; a block only partly
  // inside is formed whole in scratch and its inside part copied.
  float partial[kBlock];
  for (std::size_t i = begin / O; i * O < end; ++i) {
    for (std::size_t o0 = 0; o0 < O; o0 += kBlock) {
      const std::size_t n = std::min(kBlock, O - o0), first = i * O + o0;
      const std::size_t lo = std::max(first, begin), hi = std::min(first + n, end);
      if (lo >= hi) continue;
      if (lo == first && hi == first + n) {
        factor_block(parts, P, i, O, o0, n, out + (first - begin));
      } else {
        factor_block(parts, P, i, O, o0, n, partial);
        std::copy(partial + (lo - first), partial + (hi - first), out + (lo - begin));
      }
    }
  }
}

}  // namespace

void SparseBatch::reserve(std::size_t max_batch, std::size_t in) {
  require(max_batch * in < std::numeric_limits<std::uint32_t>::max(), "sparse batch of ", max_batch,
          " x ", in, " values does not fit 32-bit indices");
  batch = 0;
  width = in;
  row_start.assign(max_batch + 1, 0);
  row_column.assign(max_batch * in, 0);
  row_value.assign(max_batch * in, 0.0f);
  col_start.assign(in + 1, 0);
  col_row.assign(max_batch * in, 0);
  col_value.assign(max_batch * in, 0.0f);
  col_cursor.assign(in, 0);
}

namespace {

// Appends the nonzeros of row[begin, end) at n; returns the new count.
// Branch-free: always write, advance only past a nonzero.
std::uint32_t compress_row(const float* row, std::size_t begin, std::size_t end, std::uint32_t n,
                           std::uint32_t* column, float* value) {
  for (std::size_t i = begin; i < end; ++i) {
    column[n] = static_cast<std::uint32_t>(i);
    value[n] = row[i];
    n += row[i] != 0.0f;
  }
  return n;
}

#if defined(__x86_64__)
// The same, 16 values at a time with AVX-512 compress.
__attribute__((target("avx512f"))) std::uint32_t compress_row_avx512(const float* row,
                                                                     std::size_t I, std::uint32_t n,
                                                                     std::uint32_t* column,
                                                                     float* value) {
  const __m512i step = _mm512_set1_epi32(16);
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  std::size_t i = 0;
  for (; i + 16 <= I; i += 16) {
    const __m512 v = _mm512_loadu_ps(row + i);
    const __mmask16 lit = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    // Compress in registers, then a full store: compress-to-memory is
    // microcoded on Zen 4. The 16 slots from n lie within [0, r I + i + 16), inside the batch.
    _mm512_storeu_ps(value + n, _mm512_maskz_compress_ps(lit, v));
    _mm512_storeu_si512(column + n, _mm512_maskz_compress_epi32(lit, index));
    n += static_cast<std::uint32_t>(__builtin_popcount(lit));
    index = _mm512_add_epi32(index, step);
  }
  return compress_row(row, i, I, n, column, value);
}

bool cpu_has_avx512() {
  return !isa_cap() && __builtin_cpu_supports("avx512f");
}
#else
// No AVX-512 path off x86-64; never called there.
std::uint32_t compress_row_avx512(const float* row, std::size_t I, std::uint32_t n,
                                  std::uint32_t* column, float* value) {
  return compress_row(row, 0, I, n, column, value);
}

bool cpu_has_avx512() {
  return false;
}
#endif

}  // namespace

std::size_t sparse_batch_build_rows(std::span<const float> x, std::size_t batch, std::size_t in,
                                    SparseBatch& sparse, bool portable_only) {
  // B batch, I in.
  const std::size_t B = batch, I = in;
  require(sparse.width == I && sparse.row_start.size() >= B + 1 && x.size() >= B * I,
          "sparse batch: reserved for ", sparse.row_start.size() - 1, " rows of ", sparse.width,
          ", asked for ", B, " rows of ", I);
  static const bool has_avx512 = cpu_has_avx512();
  const bool avx512 = has_avx512 && !portable_only;
  sparse.batch = B;
  std::uint32_t n = 0;
  sparse.row_start[0] = 0;
  for (std::size_t r = 0; r < B; ++r) {
    const float* row = x.data() + r * I;
    n = avx512 ? compress_row_avx512(row, I, n, sparse.row_column.data(), sparse.row_value.data())
               : compress_row(row, 0, I, n, sparse.row_column.data(), sparse.row_value.data());
    sparse.row_start[r + 1] = n;
  }
  return n;
}

void sparse_batch_build_columns(SparseBatch& sparse) {
  // B batch, I in; a counting sort by column that keeps row order within a column.
  const std::size_t B = sparse.batch, I = sparse.width;
  std::ranges::fill(sparse.col_start, 0u);
  const std::uint32_t nnz = sparse.row_start[B];
  for (std::uint32_t k = 0; k < nnz; ++k) ++sparse.col_start[sparse.row_column[k] + 1];
  for (std::size_t i = 0; i < I; ++i) sparse.col_start[i + 1] += sparse.col_start[i];
  std::copy_n(sparse.col_start.begin(), I, sparse.col_cursor.begin());
  for (std::size_t r = 0; r < B; ++r) {
    for (std::uint32_t k = sparse.row_start[r]; k < sparse.row_start[r + 1]; ++k) {
      const std::uint32_t slot = sparse.col_cursor[sparse.row_column[k]]++;
      sparse.col_row[slot] = static_cast<std::uint32_t>(r);
      sparse.col_value[slot] = sparse.row_value[k];
    }
  }
}

void sparse_dense_forward(const SparseBatch& x, std::span<const float> W, std::span<const float> b,
                          std::span<float> y, std::size_t out, bool relu) {
  // B batch, I in, O out.
  const std::size_t B = x.batch, I = x.width, O = out;
  require(W.size() == I * O && b.size() == O && y.size() >= B * O, "sparse_dense_forward: sizes W ",
          W.size(), " b ", b.size(), " y ", y.size(), " do not fit B=", B, " I=", I, " O=", O);
  forward_rows(x, W.data(), b.data(), y.data(), O, relu);
}

void sparse_dense_weight_grad_rows(const SparseBatch& x, std::span<const float> dy,
                                   std::span<float> dW, std::size_t out, std::size_t row_begin,
                                   std::size_t row_end) {
  // B batch, I in, O out.
  const std::size_t B = x.batch, I = x.width, O = out;
  require(dy.size() >= B * O && dW.size() == I * O && row_begin <= row_end && row_end <= I,
          "sparse_dense_weight_grad_rows: rows [", row_begin, ",", row_end, ") of B=", B, " I=", I,
          " O=", O);
  weight_grad_rows(x, dy.data(), dW.data(), O, row_begin, row_end);
}

GradientFactors factors_of(const SparseBatch& x, std::span<const float> dy) {
  const std::uint32_t nnz = x.col_start.empty() ? 0 : x.col_start[x.width];
  return {std::span<const std::uint32_t>(x.col_start.data(), x.width + 1),
          std::span<const std::uint32_t>(x.col_row.data(), nnz),
          std::span<const float>(x.col_value.data(), nnz), dy};
}

void pack_factors(const GradientFactors& factors, const FactorShape& shape,
                  std::span<std::uint32_t> words, std::span<float> floats) {
  // R rows, W width, B batch, N nonzeros.
  const std::size_t R = shape.rows, W = shape.width;
  require(R > 0 && words.size() == shape.words() && floats.size() == shape.floats(),
          "pack_factors: ", words.size(), " words and ", floats.size(), " floats for factors of ",
          R, " x ", W, " rows, batch up to ", shape.max_batch);
  require(factors.col_start.size() == R + 1 && factors.dy.size() % W == 0,
          "pack_factors: ", factors.col_start.size(), " column starts and ", factors.dy.size(),
          " dy floats, expected ", R + 1, " and a multiple of ", W);
  const std::size_t B = factors.dy.size() / W, N = factors.col_start[R];
  require(B <= shape.max_batch && N <= B * R && N <= factors.col_row.size() &&
              N <= factors.col_value.size(),
          "pack_factors: batch ", B, " with ", N, " nonzeros, room for batch ", shape.max_batch,
          " (", shape.max_batch * R, " nonzeros)");
  words[0] = static_cast<std::uint32_t>(B);
  std::ranges::copy(factors.col_start, words.begin() + 1);
  std::copy_n(factors.col_row.begin(), N, words.begin() + 1 + R + 1);
  std::copy_n(factors.col_value.begin(), N, floats.begin());
  std::ranges::copy(factors.dy, floats.begin() + shape.max_batch * R);
}

GradientFactors unpack_factors(const FactorShape& shape, std::span<const std::uint32_t> words,
                               std::span<const float> floats) {
  const std::size_t R = shape.rows, W = shape.width, room = shape.max_batch * R;
  require(R > 0 && words.size() == shape.words() && floats.size() == shape.floats(),
          "unpack_factors: ", words.size(), " words and ", floats.size(), " floats for factors of ",
          R, " x ", W, " rows, batch up to ", shape.max_batch);
  const std::size_t B = std::min<std::size_t>(words[0], shape.max_batch);
  const std::size_t N = std::min<std::size_t>(words[1 + R], room);
  return {words.subspan(1, R + 1), words.subspan(1 + R + 1, N), floats.first(N),
          floats.subspan(room, B * W)};
}

void sparse_factor_grad(std::span<const GradientFactors> parts, std::size_t in, std::size_t out,
                        std::size_t begin, std::size_t end, std::span<float> dW_range) {
  // I in, O out.
  const std::size_t I = in, O = out;
  require(begin <= end && end <= I * O && dW_range.size() == end - begin && O > 0,
          "sparse_factor_grad: floats [", begin, ",", end, ") of dW [", I, ",", O, "] into ",
          dW_range.size());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const GradientFactors& f = parts[p];
    require(f.col_start.size() == I + 1 && f.col_start[I] <= f.col_row.size() &&
                f.col_start[I] <= f.col_value.size() && f.dy.size() % O == 0,
            "sparse_factor_grad: part ", p, " has ", f.col_start.size(), " column starts, ",
            f.col_row.size(), " rows, ", f.col_value.size(), " values and ", f.dy.size(),
            " dy floats for I=", I, " O=", O);
  }
  factor_grad_range(parts.data(), parts.size(), O, begin, end, dW_range.data());
}

}  // namespace dpmnist
