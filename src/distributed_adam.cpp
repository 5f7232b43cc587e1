#include "dpmnist/distributed_adam.h"

#include <algorithm>
#include <chrono>

#include "dpmnist/error.h"
#include "dpmnist/stopwatch.h"

namespace dpmnist {

GradientSync parse_gradient_sync(const std::string& name) {
  if (name == "allreduce") return GradientSync::kAllreduce;
  if (name == "sharded") return GradientSync::kSharded;
  if (name == "shm") return GradientSync::kShm;
  throw Error(concat("train.gradient_sync = '", name, "', expected allreduce, sharded or shm"));
}

namespace {

// shm's node sum, or nothing (on every rank alike, sync set to sharded) when
// the nodes hold different numbers of ranks: slices must line up across nodes.
std::optional<NodeSum> node_sum_of(const Comm& comm, std::size_t param_count, int ranks_per_node,
                                   FactorShape factors, double auto_density, GradientSync& sync) {
  if (sync != GradientSync::kShm) return std::nullopt;
  Comm node = comm.split_by_node(ranks_per_node);
  if (!NodeSum::nodes_are_even(comm, node)) {
    sync = GradientSync::kSharded;
    return std::nullopt;
  }
  // A rank alone updates from its own gradient: nothing to factor. Node
  // sizes are equal everywhere, so every rank decides alike.
  if (comm.size() == 1 ||
      (auto_density > 0 && !factors_are_smaller(factors, node.size(), auto_density))) {
    factors = {};
  }
  return std::optional<NodeSum>(std::in_place, comm, std::move(node), param_count + 1, 1, factors);
}

}  // namespace

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

DistributedAdam::DistributedAdam(const Comm& comm, std::size_t param_count, AdamSettings settings,
                                 GradientSync sync, int ranks_per_node, FactorShape factors,
                                 double auto_density)
    : comm_(comm),
      sync_(sync),
      param_count_(param_count),
      shm_(node_sum_of(comm, param_count, ranks_per_node, factors, auto_density, sync_)),
      slice_(sync_ == GradientSync::kSharded ? shard_range(param_count, comm.rank(), comm.size())
             : shm_                          ? shm_->slice()
                                             : Range{0, param_count}),
      adam_(slice_.size(), settings),
      reduced_(sync_ == GradientSync::kSharded ? slice_.size()
               : shm_                          ? slice_.size() + 1
                                               : 0) {
  pending_.reserve(64);
  // The slices the moments are gathered by: over all ranks, or over the node.
  const int parts = shm_ ? shm_->node().size() : comm.size();
  for (int r = 0; r < parts; ++r) {
    const Range range = shard_range(param_count, r, parts);
    counts_.push_back(to_int(range.size(), "parameter slice"));
    displs_.push_back(to_int(range.begin, "parameter slice offset"));
  }
}

std::span<float> DistributedAdam::gradient_buffer() const {
  return shm_ ? shm_->buffer() : std::span<float>{};
}

bool DistributedAdam::step(std::span<float> params, std::span<float> grads_and_control,
                           SyncSeconds& seconds, const GradientFactors& factors) {
  require(params.size() == param_count_ && grads_and_control.size() == param_count_ + 1,
          "DistributedAdam::step: ", params.size(), " params and ", grads_and_control.size(),
          " gradients+control for ", param_count_, " parameters");
  require(takes_factors() == !factors.col_start.empty(), "DistributedAdam::step: ",
          takes_factors() ? "the first kernel's gradient factors are missing "
                            "(Network::set_first_kernel_grad_as_factors)"
                          : "gradient factors given, but this optimizer sums whole gradients");
  if (sync_ == GradientSync::kShm) return step_shm(params, grads_and_control, seconds, factors);
  std::span<float> grads = grads_and_control.first(param_count_);
  Stopwatch start;
  if (sync_ == GradientSync::kAllreduce) {
    if (pending_.empty()) {
      // Every rank joins, even with an empty batch: no rank waits alone.
      comm_.allreduce_sum(grads_and_control);
    } else {
      MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
      pending_.clear();
    }
    seconds.comm += start.seconds();
    start.restart();
    adam_.step(params, grads);
    seconds.optimizer += start.seconds();
    return grads_and_control.back() > 0.0f;
  }
  // The control word travels on its own, overlapped with the gradient traffic.
  float control = grads_and_control.back();
  MPI_Request request = comm_.iallreduce_sum(std::span<float>(&control, 1));
  comm_.reduce_scatter_sum(grads, reduced_, counts_);
  seconds.comm += start.seconds();
  start.restart();
  adam_.step(params.subspan(slice_.begin, slice_.size()), reduced_);
  seconds.optimizer += start.seconds();
  start.restart();
  comm_.allgather_in_place(params, counts_, displs_);
  Comm::wait(request);
  seconds.comm += start.seconds();
  return control > 0.0f;
}

bool DistributedAdam::step_shm(std::span<float> params, std::span<float> grads_and_control,
                               SyncSeconds& seconds, const GradientFactors& factors) {
  require(grads_and_control.data() == shm_->buffer().data(),
          "DistributedAdam (shm): the network's gradients are not in gradient_buffer(); ",
          "call Network::bind_gradients(optimizer.gradient_buffer()) first");
  const bool alone = shm_->node().size() == 1 && shm_->cross().size() == 1;
  Stopwatch start;
  // The slice's summed gradient, then the summed control word; a rank alone
  // has them already.
  std::span<const float> summed = grads_and_control;
  double formed = 0;
  if (!alone) {
    if (takes_factors()) shm_->set_factors(factors);
    formed = shm_->reduce(reduced_);
    summed = reduced_;
  }
  seconds.gradient += formed;
  seconds.comm += start.seconds() - formed;

  start.restart();
  const std::size_t n = slice_.size();
  adam_.step(params.subspan(slice_.begin, n), summed.first(n));
  seconds.optimizer += start.seconds();
  const bool stop = summed[n] > 0.0f;
  if (shm_->node().size() > 1) {
    start.restart();
    shm_->allgather(params);
    seconds.comm += start.seconds();
  }
  return stop;
}

void DistributedAdam::start_sum(std::span<float> range) {
  require(sync_ == GradientSync::kAllreduce,
          "overlapped sums need train.gradient_sync = allreduce");
  pending_.push_back(comm_.iallreduce_sum(range));
}

void DistributedAdam::progress() {
  if (pending_.empty()) return;
  int done = 0;
  MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE);
  if (done) pending_.clear();
}

void DistributedAdam::full_moments(std::vector<float>& m, std::vector<float>& v) const {
  m.assign(param_count_, 0.0f);
  v.assign(param_count_, 0.0f);
  std::copy(adam_.first_moment().begin(), adam_.first_moment().end(), m.begin() + slice_.begin);
  std::copy(adam_.second_moment().begin(), adam_.second_moment().end(), v.begin() + slice_.begin);
  if (sync_ == GradientSync::kSharded) {
    comm_.allgather_in_place(m, counts_, displs_);
    comm_.allgather_in_place(v, counts_, displs_);
  } else if (shm_) {
    shm_->node().allgather_in_place(m, counts_, displs_);
    shm_->node().allgather_in_place(v, counts_, displs_);
  }
}

void DistributedAdam::restore(std::span<const float> m, std::span<const float> v,
                              std::int64_t step) {
  require(m.size() == param_count_ && v.size() == param_count_,
          "DistributedAdam::restore: ", m.size(), " and ", v.size(), " moments for ", param_count_,
          " parameters");
  adam_.restore(m.subspan(slice_.begin, slice_.size()), v.subspan(slice_.begin, slice_.size()),
                step);
}

}  // namespace dpmnist
