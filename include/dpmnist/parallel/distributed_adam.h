// Adam over ranks: the gradients summed by a GradientSum (gradient_sum.h),
// the same Adam step on this rank's slice, the updated slices gathered, so
// every rank holds the same weights. Which sum runs is the sum's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dpmnist/nn/adam.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/parallel/gradient_sum.h"

namespace dpmnist {

class DistributedAdam {
 public:
  // The sum is make_gradient_sum(comm, param_count, sync, ranks_per_node,
  // factors, auto_density): see there for the fallback and the factors.
  DistributedAdam(const Comm& comm, std::size_t param_count, AdamSettings settings,
                  GradientSync sync, int ranks_per_node = 0, FactorShape factors = {},
                  double auto_density = 0);

  // [P + 1] the buffer the network must accumulate into (Network::bind_gradients).
  std::span<float> gradient_buffer() { return sum_->buffer(); }

  // params [P] in/out; grads_and_control [P + 1]: gradient_buffer(), holding
  // this rank's gradient (already scaled to the global mean) and, last, its
  // control word; clobbered. Collective. Returns true on every rank iff any
  // rank's control word was > 0. Where takes_factors(), factors gives the
  // first kernel's gradient (Network::backward's answer), else it is empty.
  bool step(std::span<float> params, std::span<float> grads_and_control, SyncSeconds& seconds,
            const GradientFactors& factors = {});
  // True on every rank alike when step() wants the first kernel's gradient
  // as factors (Network::FirstKernelGrad::kFactors).
  bool takes_factors() const { return sum_->takes_factors(); }

  GradientSync sync() const { return sum_->sync(); }
  std::int64_t step_count() const { return adam_.step_count(); }
  void set_learning_rate(float learning_rate) { adam_.set_learning_rate(learning_rate); }
  // The full moments [P] each, identical on every rank. Collective.
  void full_moments(std::vector<float>& m, std::vector<float>& v) const;
  // Restores from full moments [P] (each rank keeps its slice).
  void restore(std::span<const float> m, std::span<const float> v, std::int64_t step);

 private:
  std::size_t param_count_;
  std::unique_ptr<GradientSum> sum_;
  Range slice_;  // sum_->slice()
  Adam adam_;    // over slice_
};

}  // namespace dpmnist
