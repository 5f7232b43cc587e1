#include "dpmnist/node_sum.h"

#include <algorithm>

#include "dpmnist/error.h"

namespace dpmnist {
namespace {

std::vector<Range> node_slices(std::size_t count, int parts) {
  std::vector<Range> slices;
  for (int r = 0; r < parts; ++r) slices.push_back(shard_range(count, r, parts));
  return slices;
}

// count - tail, checked before any window is allocated.
std::size_t summed_part(std::size_t count, std::size_t tail, std::size_t row_width,
                        std::size_t max_rows) {
  require(tail <= count, "NodeSum: tail ", tail, " longer than count ", count);
  require(row_width == 0 || max_rows * row_width <= count - tail, "NodeSum: ", max_rows,
          " rows of ", row_width, " floats exceed the ", count - tail, " summed");
  return count - tail;
}

std::size_t largest(const std::vector<Range>& slices) {
  std::size_t most = 0;
  for (const Range& r : slices) most = std::max(most, r.size());
  return most;
}

}  // namespace

bool NodeSum::nodes_are_even(const Comm& world, const Comm& node) {
  std::vector<double> sizes = {static_cast<double>(node.size()), -static_cast<double>(node.size())};
  world.allreduce_max(sizes);
  return sizes[0] == -sizes[1];
}

NodeSum::NodeSum(const Comm& world, Comm node, std::size_t count, std::size_t tail,
                 std::size_t row_width, std::size_t max_rows)
    : node_(std::move(node)),
      cross_(world.split(node_.rank(), world.rank())),
      count_(count),
      tail_(tail),
      slices_(node_slices(summed_part(count, tail, row_width, max_rows), node_.size())),
      buffers_(node_, count),
      published_(node_, largest(slices_)),
      row_width_(row_width),
      max_rows_(row_width > 0 ? max_rows : 0),
      lit_rows_(node_, 1 + max_rows_) {}

void NodeSum::fence() {
  // One barrier orders the writes to all three windows: each is synced on
  // both sides of it (MPI_Win_sync orders only its own window).
  buffers_.sync();
  published_.sync();
  lit_rows_.sync();
  node_.barrier();
  buffers_.sync();
  published_.sync();
  lit_rows_.sync();
}

void NodeSum::set_zero_rows(std::span<const std::uint8_t> lit) {
  // A hint: rows beyond what the sum was built for are simply not described.
  const std::size_t rows = std::min(lit.size(), max_rows_);
  float* mine = lit_rows_.mine().data();
  mine[0] = static_cast<float>(rows);
  for (std::size_t r = 0; r < rows; ++r) mine[1 + r] = lit[r] ? 1.0f : 0.0f;
}

void NodeSum::reduce(std::span<float> sum) {
  const Range mine = slice();
  const std::size_t n = mine.size(), body = count_ - tail_;
  require(sum.size() == n + tail_, "NodeSum::reduce: room for ", sum.size(), " floats, need ",
          n + tail_);
  fence();  // every peer's addend (and its zero rows) is complete
  // Piece by piece: each row of row_width_ floats (where ranks described
  // their rows) or the rest of the slice, summed over the ranks whose piece
  // may be nonzero, in rank order; a piece no rank lit is +0.
  float* out = sum.data();
  const int ranks = node_.size();
  std::size_t i = mine.begin;
  while (i < mine.end) {
    const std::size_t row = row_width_ > 0 ? i / row_width_ : 0;
    const bool in_rows = row_width_ > 0 && row < max_rows_;
    const std::size_t end = in_rows ? std::min(mine.end, (row + 1) * row_width_) : mine.end;
    bool first = true;
    for (int q = 0; q < ranks; ++q) {
      const float* described = lit_rows_.of(q).data();
      if (in_rows && row < static_cast<std::size_t>(described[0]) && described[1 + row] == 0.0f) {
        continue;  // rank q's row is all +0
      }
      const float* peer = buffers_.of(q).data();
      if (first) {
        std::copy(peer + i, peer + end, out + (i - mine.begin));
      } else {
        for (std::size_t k = i; k < end; ++k) out[k - mine.begin] += peer[k];
      }
      first = false;
    }
    if (first) std::fill(out + (i - mine.begin), out + (end - mine.begin), 0.0f);
    i = end;
  }
  for (std::size_t t = 0; t < tail_; ++t) {
    out[n + t] = buffers_.of(0)[body + t];
    for (int q = 1; q < ranks; ++q) out[n + t] += buffers_.of(q)[body + t];
  }
  if (cross_->size() > 1) cross_->allreduce_sum(sum);
}

void NodeSum::allgather(std::span<float> values) {
  require(values.size() == count_ - tail_, "NodeSum::allgather: ", values.size(),
          " values, expected ", count_ - tail_);
  const Range mine = slice();
  std::copy_n(values.data() + mine.begin, mine.size(), published_.mine().data());
  fence();                     // every peer's slice is published (and every addend read)
  lit_rows_.mine()[0] = 0.0f;  // the zero-row description served that reduce only
  for (int q = 0; q < node_.size(); ++q) {
    if (q == node_.rank()) continue;
    const Range& theirs = slices_[static_cast<std::size_t>(q)];
    std::copy_n(published_.of(q).data(), theirs.size(), values.data() + theirs.begin);
  }
}

}  // namespace dpmnist
