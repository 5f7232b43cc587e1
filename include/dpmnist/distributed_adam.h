// Adam over ranks: sums every rank's gradients and takes the same step
// everywhere, either replicated (one allreduce, every rank updates all
// parameters) or sharded as in ZeRO stage 1 (reduce-scatter, each rank runs
// Adam on its own slice and moments, allgather of the updated parameters).
// Same bytes on the wire; the sharded form divides the optimizer's work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dpmnist/adam.h"
#include "dpmnist/comm.h"
#include "dpmnist/shard.h"

namespace dpmnist {

enum class GradientSync { kAllreduce, kSharded };
// "allreduce" or "sharded"; anything else throws naming the value.
GradientSync parse_gradient_sync(const std::string& name);

class DistributedAdam {
 public:
  DistributedAdam(const Comm& comm, std::size_t param_count, AdamSettings settings,
                  GradientSync sync);

  // params [P] in/out; grads_and_control [P+1] in, clobbered: this rank's
  // gradient (already scaled to the global mean) and, last, its control word.
  // Collective. Returns true on every rank iff any rank's control word was > 0.
  // Adds the seconds spent communicating and updating to the two counters.
  bool step(std::span<float> params, std::span<float> grads_and_control, double& comm_seconds,
            double& optimizer_seconds);

  // Overlap (allreduce form only): start summing one range of
  // grads_and_control as soon as backward has finished it; step() then waits
  // for the started sums instead of reducing everything itself. Every rank
  // must start the same ranges in the same order.
  void start_sum(std::span<float> range);
  // Lets MPI move the started sums along (no progress thread does it).
  void progress();

  std::int64_t step_count() const { return adam_.step_count(); }
  void set_learning_rate(float learning_rate) { adam_.set_learning_rate(learning_rate); }
  // The full moments [P] each, identical on every rank. Collective when sharded.
  void full_moments(std::vector<float>& m, std::vector<float>& v) const;
  // Restores from full moments [P] (each rank keeps its slice when sharded).
  void restore(std::span<const float> m, std::span<const float> v, std::int64_t step);

 private:
  const Comm& comm_;
  GradientSync sync_;
  std::size_t param_count_;
  Range slice_;                       // this rank's parameters when sharded, else all
  std::vector<int> counts_, displs_;  // every rank's slice, for the collectives
  Adam adam_;                         // over slice_
  std::vector<float> reduced_;        // [slice size] this rank's summed gradients
  std::vector<MPI_Request> pending_;  // sums started by start_sum, not yet waited for
};

}  // namespace dpmnist
