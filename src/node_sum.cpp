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

std::size_t largest(const std::vector<Range>& slices) {
  std::size_t most = 0;
  for (const Range& r : slices) most = std::max(most, r.size());
  return most;
}

}  // namespace

bool NodeSum::nodes_are_even(const Comm& world, const Comm& node) {
  std::vector<double> sizes = {static_cast<double>(node.size()),
                               -static_cast<double>(node.size())};
  world.allreduce_max(sizes);
  return sizes[0] == -sizes[1];
}

NodeSum::NodeSum(const Comm& world, Comm node, std::size_t count, std::size_t tail)
    : node_(std::move(node)),
      cross_(world.split(node_.rank(), world.rank())),
      count_(count),
      tail_(tail),
      slices_(node_slices(count - tail, node_.size())),
      buffers_(node_, count),
      published_(node_, largest(slices_)) {
  require(tail <= count, "NodeSum: tail ", tail, " longer than count ", count);
}

void NodeSum::reduce(std::span<float> sum) {
  const Range mine = slice();
  const std::size_t n = mine.size(), body = count_ - tail_;
  require(sum.size() == n + tail_, "NodeSum::reduce: room for ", sum.size(), " floats, need ",
          n + tail_);
  buffers_.fence();  // every peer's addend is complete
  float* out = sum.data();
  std::copy_n(buffers_.of(0).data() + mine.begin, n, out);
  std::copy_n(buffers_.of(0).data() + body, tail_, out + n);
  for (int q = 1; q < node_.size(); ++q) {
    const float* peer = buffers_.of(q).data();
    for (std::size_t i = 0; i < n; ++i) out[i] += peer[mine.begin + i];
    for (std::size_t t = 0; t < tail_; ++t) out[n + t] += peer[body + t];
  }
  if (cross_->size() > 1) cross_->allreduce_sum(sum);
}

void NodeSum::allgather(std::span<float> values) {
  require(values.size() == count_ - tail_, "NodeSum::allgather: ", values.size(),
          " values, expected ", count_ - tail_);
  const Range mine = slice();
  std::copy_n(values.data() + mine.begin, mine.size(), published_.mine().data());
  published_.fence();  // every peer's slice is published (and every addend read)
  for (int q = 0; q < node_.size(); ++q) {
    if (q == node_.rank()) continue;
    const Range& theirs = slices_[static_cast<std::size_t>(q)];
    std::copy_n(published_.of(q).data(), theirs.size(), values.data() + theirs.begin);
  }
}

}  // namespace dpmnist
