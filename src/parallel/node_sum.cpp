#include "dpmnist/parallel/node_sum.h"

#include <algorithm>

#include "dpmnist/core/error.h"
#include "dpmnist/core/stopwatch.h"

namespace dpmnist {
namespace {

std::vector<Range> node_slices(std::size_t count, int parts) {
  std::vector<Range> slices;
  for (int r = 0; r < parts; ++r) slices.push_back(shard_range(count, r, parts));
  return slices;
}

// The slices' shares of the prefix [0, F).
std::vector<Range> prefix_shares(const std::vector<Range>& slices, std::size_t F) {
  std::vector<Range> shares;
  for (const Range& s : slices) shares.push_back({std::min(s.begin, F), std::min(s.end, F)});
  return shares;
}

std::size_t largest(const std::vector<Range>& ranges) {
  std::size_t most = 0;
  for (const Range& r : ranges) most = std::max(most, r.size());
  return most;
}

// Whether each rank forms its own slice's part of the prefix: where the
// slices share it about evenly (no rank more than 1.25 times its even share).
bool forms_own_share(const std::vector<Range>& slices, std::size_t F) {
  return 4 * slices.size() * largest(prefix_shares(slices, F)) <= 5 * F;
}

// The prefix floats each node rank forms: its slice's share, or else an even
// share of the prefix, which then reaches its owners through shared memory.
std::vector<Range> formed_ranges(const std::vector<Range>& slices, std::size_t F, bool by_owner) {
  if (by_owner) return prefix_shares(slices, F);
  std::vector<Range> formed;
  const auto parts = static_cast<int>(slices.size());
  for (int r = 0; r < parts; ++r) formed.push_back(shard_range(F, r, parts));
  return formed;
}

// count - tail, checked before any window is allocated.
std::size_t summed_part(std::size_t count, std::size_t tail, const FormedPrefix& prefix) {
  require(tail <= count, "NodeSum: tail ", tail, " longer than count ", count);
  require(prefix.floats <= count - tail, "NodeSum: a formed prefix of ", prefix.floats,
          " floats exceeds the ", count - tail, " summed");
  return count - tail;
}

}  // namespace

bool NodeSum::nodes_are_even(const Comm& world, const Comm& node) {
  std::vector<double> sizes = {static_cast<double>(node.size()), -static_cast<double>(node.size())};
  world.allreduce_max(sizes);
  return sizes[0] == -sizes[1];
}

NodeSum::NodeSum(const Comm& world, Comm node, std::size_t count, std::size_t tail,
                 FormedPrefix prefix)
    : node_(std::move(node)),
      cross_(world.split(node_.rank(), world.rank())),
      count_(count),
      tail_(tail),
      slices_(node_slices(summed_part(count, tail, prefix), node_.size())),
      buffers_(node_, count),
      published_(node_, largest(slices_)),
      prefix_(prefix),
      side_words_(node_, prefix.side_words),
      side_floats_(node_, prefix.side_floats),
      formed_by_owner_(forms_own_share(slices_, prefix.floats)),
      formed_(formed_ranges(slices_, prefix.floats, formed_by_owner_)),
      formed_floats_(
          node_, formed_by_owner_ ? 0 : formed_[static_cast<std::size_t>(node_.rank())].size()) {
  for (int q = 0; q < node_.size(); ++q) peers_.push_back({side_words_.of(q), side_floats_.of(q)});
}

void NodeSum::fence() {
  // One barrier orders the writes to all five windows: each is synced on
  // both sides of it (MPI_Win_sync orders only its own window).
  buffers_.sync();
  published_.sync();
  side_words_.sync();
  side_floats_.sync();
  formed_floats_.sync();
  node_.barrier();
  buffers_.sync();
  published_.sync();
  side_words_.sync();
  side_floats_.sync();
  formed_floats_.sync();
}

double NodeSum::reduce(std::span<float> sum, const FormPrefix& form) {
  const Range mine = slice();
  const std::size_t n = mine.size(), body = count_ - tail_;
  require(sum.size() == n + tail_, "NodeSum::reduce: room for ", sum.size(), " floats, need ",
          n + tail_);
  require(!has_prefix() || form, "NodeSum::reduce: a formed prefix needs its callback");
  fence();  // every peer's addend (and side data) is complete
  float* out = sum.data();
  double form_seconds = 0;
  std::size_t i = mine.begin;
  if (has_prefix()) {
    form_seconds = form_prefix(form, out);
    i = std::max(i, std::min(mine.end, prefix_.floats));
  }
  // The rest of the slice, summed over the ranks in rank order.
  const int ranks = node_.size();
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
  return form_seconds;
}

double NodeSum::form_prefix(const FormPrefix& form, float* out) {
  // The slice's part of the prefix, formed here, or by an even share of the
  // prefix on every rank, then copied to its owner.
  const Range mine = slice(), formed = formed_[static_cast<std::size_t>(node_.rank())];
  double seconds = 0;
  if (formed.size() > 0) {
    const Stopwatch start;
    float* into = formed_by_owner_ ? out : formed_floats_.mine().data();
    form(peers_, formed, {into, formed.size()});
    seconds = start.seconds();
  }
  if (formed_by_owner_) return seconds;
  fence();  // every rank's formed floats are complete
  const std::size_t end = std::min(mine.end, prefix_.floats);
  for (int q = 0; q < node_.size(); ++q) {
    const Range theirs = formed_[static_cast<std::size_t>(q)];
    const std::size_t lo = std::max(mine.begin, theirs.begin), hi = std::min(end, theirs.end);
    if (lo < hi) {
      std::copy(formed_floats_.of(q).data() + (lo - theirs.begin),
                formed_floats_.of(q).data() + (hi - theirs.begin), out + (lo - mine.begin));
    }
  }
  return seconds;
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
