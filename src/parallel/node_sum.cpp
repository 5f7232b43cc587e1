#include "dpmnist/parallel/node_sum.h"

#include <algorithm>
#include <chrono>

#include "dpmnist/core/error.h"
#include "dpmnist/core/stopwatch.h"

namespace dpmnist {
namespace {

std::vector<Range> node_slices(std::size_t count, int parts) {
  std::vector<Range> slices;
  for (int r = 0; r < parts; ++r) slices.push_back(shard_range(count, r, parts));
  return slices;
}

// The slices' shares of the factored part [0, F).
std::vector<Range> factored_shares(const std::vector<Range>& slices, const FactorShape& factors) {
  const std::size_t F = factors.rows * factors.width;
  std::vector<Range> shares;
  for (const Range& s : slices) shares.push_back({std::min(s.begin, F), std::min(s.end, F)});
  return shares;
}

std::size_t largest(const std::vector<Range>& ranges) {
  std::size_t most = 0;
  for (const Range& r : ranges) most = std::max(most, r.size());
  return most;
}

// Whether each rank forms its own slice's factored floats: where the slices
// share them about evenly (no rank more than 1.25 times its even share).
bool forms_own_share(const std::vector<Range>& slices, const FactorShape& factors) {
  const std::size_t F = factors.rows * factors.width;
  return 4 * slices.size() * largest(factored_shares(slices, factors)) <= 5 * F;
}

// The factored floats each node rank forms: its slice's share, or else an
// even share of the rows, which then reach their owners through shared memory.
std::vector<Range> formed_ranges(const std::vector<Range>& slices, const FactorShape& factors,
                                 bool by_owner) {
  if (by_owner) return factored_shares(slices, factors);
  std::vector<Range> formed;
  const auto parts = static_cast<int>(slices.size());
  for (int r = 0; r < parts; ++r) {
    const Range rows = shard_range(factors.rows, r, parts);
    formed.push_back({rows.begin * factors.width, rows.end * factors.width});
  }
  return formed;
}

// count - tail, checked before any window is allocated.
std::size_t summed_part(std::size_t count, std::size_t tail, const FactorShape& factors) {
  require(tail <= count, "NodeSum: tail ", tail, " longer than count ", count);
  require(factors.rows * factors.width <= count - tail, "NodeSum: factors of ", factors.rows,
          " rows of ", factors.width, " floats exceed the ", count - tail, " summed");
  require((factors.rows == 0) == (factors.width == 0 || factors.max_batch == 0),
          "NodeSum: factor shape ", factors.rows, " x ", factors.width, ", batch ",
          factors.max_batch, " is partly zero");
  return count - tail;
}

}  // namespace

bool factors_are_smaller(const FactorShape& shape, int ranks_per_node, double density) {
  const double k = ranks_per_node, B = static_cast<double>(shape.max_batch);
  const double R = static_cast<double>(shape.rows), W = static_cast<double>(shape.width);
  return k * B * W + 2 * B * R * density < R * W;
}

bool NodeSum::nodes_are_even(const Comm& world, const Comm& node) {
  std::vector<double> sizes = {static_cast<double>(node.size()), -static_cast<double>(node.size())};
  world.allreduce_max(sizes);
  return sizes[0] == -sizes[1];
}

NodeSum::NodeSum(const Comm& world, Comm node, std::size_t count, std::size_t tail,
                 FactorShape factors)
    : node_(std::move(node)),
      cross_(world.split(node_.rank(), world.rank())),
      count_(count),
      tail_(tail),
      slices_(node_slices(summed_part(count, tail, factors), node_.size())),
      buffers_(node_, count),
      published_(node_, largest(slices_)),
      factors_(factors),
      columns_(node_,
               factors.rows > 0 ? 1 + factors.rows + 1 + factors.max_batch * factors.rows : 0),
      factor_values_(node_, factors.max_batch * (factors.rows + factors.width)),
      parts_(static_cast<std::size_t>(node_.size())),
      formed_by_owner_(forms_own_share(slices_, factors)),
      formed_(formed_ranges(slices_, factors, formed_by_owner_)),
      formed_rows_(node_,
                   formed_by_owner_ ? 0 : formed_[static_cast<std::size_t>(node_.rank())].size()) {}

void NodeSum::fence() {
  // One barrier orders the writes to all five windows: each is synced on
  // both sides of it (MPI_Win_sync orders only its own window).
  buffers_.sync();
  published_.sync();
  columns_.sync();
  factor_values_.sync();
  formed_rows_.sync();
  node_.barrier();
  buffers_.sync();
  published_.sync();
  columns_.sync();
  factor_values_.sync();
  formed_rows_.sync();
}

void NodeSum::set_factors(const GradientFactors& mine) {
  // R rows, W width, B batch, N nonzeros.
  const std::size_t R = factors_.rows, W = factors_.width;
  require(R > 0, "NodeSum::set_factors: this sum was built without factors");
  require(mine.col_start.size() == R + 1 && mine.dy.size() % W == 0,
          "NodeSum::set_factors: ", mine.col_start.size(), " column starts and ", mine.dy.size(),
          " dy floats, expected ", R + 1, " and a multiple of ", W);
  const std::size_t B = mine.dy.size() / W, N = mine.col_start[R];
  require(B <= factors_.max_batch && N <= B * R && N <= mine.col_row.size() &&
              N <= mine.col_value.size(),
          "NodeSum::set_factors: batch ", B, " with ", N, " nonzeros, room for batch ",
          factors_.max_batch, " (", factors_.max_batch * R, " nonzeros)");
  std::uint32_t* words = columns_.mine().data();
  float* values = factor_values_.mine().data();
  words[0] = static_cast<std::uint32_t>(B);
  std::copy(mine.col_start.begin(), mine.col_start.end(), words + 1);
  std::copy_n(mine.col_row.begin(), N, words + 1 + R + 1);
  std::copy_n(mine.col_value.begin(), N, values);
  std::copy(mine.dy.begin(), mine.dy.end(), values + factors_.max_batch * R);
  factors_set_ = true;
}

double NodeSum::reduce(std::span<float> sum) {
  const Range mine = slice();
  const std::size_t n = mine.size(), body = count_ - tail_;
  require(sum.size() == n + tail_, "NodeSum::reduce: room for ", sum.size(), " floats, need ",
          n + tail_);
  require(factors_set_ || !has_factors(), "NodeSum::reduce: set_factors() was not called");
  factors_set_ = false;  // each reduce takes fresh factors
  fence();               // every peer's addend (and factors) is complete
  const int ranks = node_.size();
  float* out = sum.data();
  // The factored floats [0, R W) of the slice, from every rank's factors:
  // formed here, or by an even share of the rows on every rank, then copied.
  const std::size_t R = factors_.rows, W = factors_.width, factored = R * W;
  double factor_seconds = 0;
  std::size_t i = mine.begin;
  if (has_factors()) {
    const Range formed = formed_[static_cast<std::size_t>(node_.rank())];
    if (formed.size() > 0) {
      const Stopwatch start;
      const std::size_t B_max = factors_.max_batch;
      for (int q = 0; q < ranks; ++q) {
        const std::uint32_t* words = columns_.of(q).data();
        const float* values = factor_values_.of(q).data();
        const std::size_t B = std::min<std::size_t>(words[0], B_max), N = words[1 + R];
        parts_[static_cast<std::size_t>(q)] = {{words + 1, R + 1},
                                               {words + 1 + R + 1, std::min(N, B_max * R)},
                                               {values, std::min(N, B_max * R)},
                                               {values + B_max * R, B * W}};
      }
      // By owner, formed is the slice's factored part: straight into sum.
      float* into = formed_by_owner_ ? out : formed_rows_.mine().data();
      sparse_factor_grad(parts_, R, W, formed.begin, formed.end, {into, formed.size()});
      factor_seconds = start.seconds();
    }
    const std::size_t end = std::max(i, std::min(mine.end, factored));
    if (!formed_by_owner_) {
      fence();  // every rank's formed rows are complete
      for (int q = 0; q < ranks; ++q) {
        const Range theirs = formed_[static_cast<std::size_t>(q)];
        const std::size_t lo = std::max(i, theirs.begin), hi = std::min(end, theirs.end);
        if (lo < hi) {
          std::copy(formed_rows_.of(q).data() + (lo - theirs.begin),
                    formed_rows_.of(q).data() + (hi - theirs.begin), out + (lo - mine.begin));
        }
      }
    }
    i = end;
  }
  // The rest of the slice, summed over the ranks in rank order.
  if (i < mine.end) {
    float* rest = out + (i - mine.begin);
    const std::size_t length = mine.end - i;
    std::copy_n(buffers_.of(0).data() + i, length, rest);
    for (int q = 1; q < ranks; ++q) {
      const float* peer = buffers_.of(q).data() + i;
      for (std::size_t k = 0; k < length; ++k) rest[k] += peer[k];
    }
  }
  for (std::size_t t = 0; t < tail_; ++t) {
    out[n + t] = buffers_.of(0)[body + t];
    for (int q = 1; q < ranks; ++q) out[n + t] += buffers_.of(q)[body + t];
  }
  if (cross_->size() > 1) cross_->allreduce_sum(sum);
  return factor_seconds;
}

void NodeSum::allgather(std::span<float> values) {
  require(values.size() == count_ - tail_, "NodeSum::allgather: ", values.size(),
          " values, expected ", count_ - tail_);
  const Range mine = slice();
  std::copy_n(values.data() + mine.begin, mine.size(), published_.mine().data());
  fence();  // every peer's slice is published (and every addend read)
  for (int q = 0; q < node_.size(); ++q) {
    if (q == node_.rank()) continue;
    const Range& theirs = slices_[static_cast<std::size_t>(q)];
    std::copy_n(published_.of(q).data(), theirs.size(), values.data() + theirs.begin);
  }
}

}  // namespace dpmnist
