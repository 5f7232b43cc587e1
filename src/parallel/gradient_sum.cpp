#include "dpmnist/parallel/gradient_sum.h"

#include <optional>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/core/stopwatch.h"
#include "dpmnist/parallel/node_sum.h"

namespace dpmnist {

const char* gradient_sync_name(GradientSync sync) {
  switch (sync) {
    case GradientSync::kAllreduce:
      return "allreduce";
    case GradientSync::kSharded:
      return "sharded";
    case GradientSync::kShm:
      return "shm";
  }
  return "?";
}

bool factors_are_smaller(const FactorShape& shape, int ranks_per_node, double density) {
  const double k = ranks_per_node, B = static_cast<double>(shape.max_batch);
  const double R = static_cast<double>(shape.rows), W = static_cast<double>(shape.width);
  return k * B * W + 2 * B * R * density < R * W;
}

namespace {

// counts and offsets of shard_range(count, r, parts) for every r, for the collectives.
void slice_layout(std::size_t count, int parts, std::vector<int>& counts,
                  std::vector<int>& displs) {
  for (int r = 0; r < parts; ++r) {
    const Range range = shard_range(count, r, parts);
    counts.push_back(to_int(range.size(), "parameter slice"));
    displs.push_back(to_int(range.begin, "parameter slice offset"));
  }
}

// One MPI_Allreduce of the whole buffer; every rank updates every parameter.
class AllreduceSum final : public GradientSum {
 public:
  AllreduceSum(const Comm& comm, std::size_t param_count) : comm_(comm), buffer_(param_count + 1) {}
  std::span<float> buffer() override { return buffer_; }
  Range slice() const override { return {0, buffer_.size() - 1}; }
  GradientSync sync() const override { return GradientSync::kAllreduce; }

  std::span<const float> reduce(const GradientFactors&, SyncSeconds& seconds) override {
    const Stopwatch watch;
    comm_.allreduce_sum(buffer_);  // every rank joins, even with an empty batch
    seconds.comm += watch.seconds();
    return buffer_;
  }
  void gather(std::span<float>, SyncSeconds&) override {}
  void gather_slices(std::span<float>) const override {}

 private:
  const Comm& comm_;
  std::vector<float> buffer_;  // [P + 1]
};

// ZeRO-1: reduce-scatter, each rank updates its slice, allgather; the control
// word is summed on its own, overlapped with that traffic.
class ShardedSum final : public GradientSum {
 public:
  ShardedSum(const Comm& comm, std::size_t param_count)
      : comm_(comm),
        buffer_(param_count + 1),
        slice_(shard_range(param_count, comm.rank(), comm.size())),
        reduced_(slice_.size() + 1) {
    slice_layout(param_count, comm.size(), counts_, displs_);
  }
  std::span<float> buffer() override { return buffer_; }
  Range slice() const override { return slice_; }
  GradientSync sync() const override { return GradientSync::kSharded; }

  std::span<const float> reduce(const GradientFactors&, SyncSeconds& seconds) override {
    const Stopwatch watch;
    const std::size_t n = slice_.size();
    reduced_[n] = buffer_.back();
    control_ = comm_.iallreduce_sum(std::span(reduced_).subspan(n, 1));
    comm_.reduce_scatter_sum(std::span(buffer_).first(buffer_.size() - 1),
                             std::span(reduced_).first(n), counts_);
    seconds.comm += watch.seconds();
    return reduced_;
  }
  void gather(std::span<float> params, SyncSeconds& seconds) override {
    const Stopwatch watch;
    comm_.allgather_in_place(params, counts_, displs_);
    Comm::wait(control_);
    seconds.comm += watch.seconds();
  }
  void gather_slices(std::span<float> values) const override {
    comm_.allgather_in_place(values, counts_, displs_);
  }

 private:
  const Comm& comm_;
  std::vector<float> buffer_;  // [P + 1]
  Range slice_;
  std::vector<float> reduced_;  // [slice + 1]
  std::vector<int> counts_, displs_;
  MPI_Request control_ = MPI_REQUEST_NULL;
};

// The sharded form through node shared memory (node_sum.h): each rank sums
// its slice from its node peers' buffers, one allreduce per slice between
// nodes, and peers copy the updated slices. With factors, the first kernel's
// gradient is NodeSum's formed prefix: each rank publishes its factors and
// the prefix is formed from every rank's (sparse_factor_grad).
class ShmSum final : public GradientSum {
 public:
  ShmSum(const Comm& world, Comm node, std::size_t param_count, FactorShape factors)
      : factors_(factors),
        shm_(world, std::move(node), param_count + 1, 1,
             {factors.rows * factors.width, factors.words(), factors.floats()}),
        reduced_(shm_.slice().size() + 1),
        alone_(shm_.node().size() == 1 && shm_.cross().size() == 1),
        parts_(static_cast<std::size_t>(shm_.node().size())) {
    slice_layout(param_count, shm_.node().size(), counts_, displs_);
    if (takes_factors()) {
      form_ = [this](std::span<const SideData> peers, Range range, std::span<float> out) {
        form(peers, range, out);
      };
    }
  }
  std::span<float> buffer() override { return shm_.buffer(); }
  Range slice() const override { return shm_.slice(); }
  bool takes_factors() const override { return shm_.has_prefix(); }
  GradientSync sync() const override { return GradientSync::kShm; }

  std::span<const float> reduce(const GradientFactors& factors, SyncSeconds& seconds) override {
    if (alone_) return shm_.buffer();  // a rank alone has its sum already
    const Stopwatch watch;
    if (takes_factors()) pack_factors(factors, factors_, shm_.side_words(), shm_.side_floats());
    const double formed = shm_.reduce(reduced_, form_);
    seconds.gradient += formed;
    seconds.comm += watch.seconds() - formed;
    return reduced_;
  }
  void gather(std::span<float> params, SyncSeconds& seconds) override {
    if (shm_.node().size() == 1) return;
    const Stopwatch watch;
    shm_.allgather(params);
    seconds.comm += watch.seconds();
  }
  void gather_slices(std::span<float> values) const override {
    shm_.node().allgather_in_place(values, counts_, displs_);
  }

 private:
  // Floats `range` of the summed first kernel gradient from every rank's factors.
  void form(std::span<const SideData> peers, Range range, std::span<float> out) {
    for (std::size_t q = 0; q < peers.size(); ++q) {
      parts_[q] = unpack_factors(factors_, peers[q].words, peers[q].floats);
    }
    sparse_factor_grad(parts_, factors_.rows, factors_.width, range.begin, range.end, out);
  }

  FactorShape factors_;         // all zero: whole gradients
  NodeSum shm_;                 // gradients [P] + control word [1]
  std::vector<float> reduced_;  // [slice + 1]
  bool alone_;
  std::vector<GradientFactors> parts_;  // [node size] views of every rank's factors
  FormPrefix form_;                     // calls form() under factors, else empty
  std::vector<int> counts_, displs_;    // the node's slices
};

}  // namespace

std::unique_ptr<GradientSum> make_gradient_sum(const Comm& comm, std::size_t param_count,
                                               GradientSync requested, int ranks_per_node,
                                               FactorShape factors, double auto_density) {
  if (requested == GradientSync::kAllreduce) {
    return std::make_unique<AllreduceSum>(comm, param_count);
  }
  if (requested == GradientSync::kSharded) return std::make_unique<ShardedSum>(comm, param_count);
  Comm node = comm.split_by_node(ranks_per_node);
  // Slices must line up across nodes: uneven nodes take the sharded form.
  if (!NodeSum::nodes_are_even(comm, node)) return std::make_unique<ShardedSum>(comm, param_count);
  // A rank alone updates from its own gradient: nothing to factor. Node
  // sizes are equal everywhere, so every rank decides alike.
  if (comm.size() == 1 ||
      (auto_density > 0 && !factors_are_smaller(factors, node.size(), auto_density))) {
    factors = {};
  }
  return std::make_unique<ShmSum>(comm, std::move(node), param_count, factors);
}

}  // namespace dpmnist
