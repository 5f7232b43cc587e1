#include "dpmnist/parallel/distributed_adam.h"

#include <algorithm>

#include "dpmnist/core/error.h"
#include "dpmnist/core/stopwatch.h"

namespace dpmnist {

DistributedAdam::DistributedAdam(const Comm& comm, std::size_t param_count, AdamSettings settings,
                                 GradientSync sync, int ranks_per_node, FactorShape factors,
                                 double auto_density)
    : param_count_(param_count),
      sum_(make_gradient_sum(comm, param_count, sync, ranks_per_node, factors, auto_density)),
      slice_(sum_->slice()),
      adam_(slice_.size(), settings) {}

bool DistributedAdam::step(std::span<float> params, std::span<float> grads_and_control,
                           SyncSeconds& seconds, const GradientFactors& factors) {
  require(params.size() == param_count_ && grads_and_control.size() == param_count_ + 1,
          "DistributedAdam::step: ", params.size(), " params and ", grads_and_control.size(),
          " gradients+control for ", param_count_, " parameters");
  require(grads_and_control.data() == sum_->buffer().data(),
          "DistributedAdam: the network's gradients are not in gradient_buffer(); call "
          "Network::bind_gradients(optimizer.gradient_buffer()) first");
  require(takes_factors() == !factors.col_start.empty(), "DistributedAdam::step: ",
          takes_factors() ? "the first kernel's gradient factors are missing "
                            "(Network::FirstKernelGrad::kFactors)"
                          : "gradient factors given, but this optimizer sums whole gradients");
  const std::span<const float> summed = sum_->reduce(factors, seconds);
  const std::size_t n = slice_.size();
  const Stopwatch watch;
  adam_.step(params.subspan(slice_.begin, n), summed.first(n));
  seconds.optimizer += watch.seconds();
  sum_->gather(params, seconds);
  return summed[n] > 0.0f;
}

void DistributedAdam::full_moments(std::vector<float>& m, std::vector<float>& v) const {
  m.assign(param_count_, 0.0f);
  v.assign(param_count_, 0.0f);
  std::ranges::copy(adam_.first_moment(), m.begin() + static_cast<std::ptrdiff_t>(slice_.begin));
  std::ranges::copy(adam_.second_moment(), v.begin() + static_cast<std::ptrdiff_t>(slice_.begin));
  sum_->gather_slices(m);
  sum_->gather_slices(v);
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
