// Adam over ranks: sums every rank's gradients and takes the same step
// everywhere: replicated (one allreduce, Adam on all parameters everywhere),
// sharded as in ZeRO-1 (reduce-scatter, Adam on each rank's slice, allgather),
// or shm, the sharded form through node shared memory (node_sum.h), where
// the first kernel's gradient may travel as its factors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dpmnist/adam.h"
#include "dpmnist/comm.h"
#include "dpmnist/node_sum.h"
#include "dpmnist/shard.h"

namespace dpmnist {

enum class GradientSync { kAllreduce, kSharded, kShm };
// "allreduce", "sharded" or "shm"; anything else throws naming the value.
GradientSync parse_gradient_sync(const std::string& name);
const char* gradient_sync_name(GradientSync sync);

// Seconds one step adds: forming gradients (from factors), communicating
// (waits included) and updating.
struct SyncSeconds {
  double gradient = 0, comm = 0, optimizer = 0;
};

class DistributedAdam {
 public:
  // ranks_per_node (shm only): 0 finds the nodes; k > 0 treats consecutive
  // groups of k ranks as nodes (tests of the multi-node path on one machine).
  // shm needs the same number of ranks on every node; where they differ it
  // falls back to sharded (sync() says which form runs).
  // factors (shm only, on more than one rank): the gradient's first
  // rows * width floats come to step() as factors (takes_factors()); with
  // auto_density > 0, only where factors_are_smaller(factors, node size,
  // auto_density), decided alike on every rank.
  DistributedAdam(const Comm& comm, std::size_t param_count, AdamSettings settings,
                  GradientSync sync, int ranks_per_node = 0, FactorShape factors = {},
                  double auto_density = 0);

  // shm: the gradient buffer [P+1] the network must accumulate into
  // (Network::bind_gradients), in memory the node's ranks share; else empty.
  std::span<float> gradient_buffer() const;

  // params [P] in/out; grads_and_control [P+1] in, clobbered: this rank's
  // gradient (already scaled to the global mean) and, last, its control word.
  // Collective. Returns true on every rank iff any rank's control word was > 0.
  // Adds the seconds spent communicating and updating to the two counters.
  // Where takes_factors(), factors gives the gradient's first rows * width
  // floats (Network::first_layer_factors; grads_and_control's are ignored);
  // else it must be empty. seconds.gradient: forming them from the factors.
  bool step(std::span<float> params, std::span<float> grads_and_control, SyncSeconds& seconds,
            const GradientFactors& factors = {});
  // True on every rank alike when step() wants the first kernel's gradient
  // as factors (Network::set_first_kernel_grad_as_factors).
  bool takes_factors() const { return shm_ && shm_->has_factors(); }

  // Overlap (allreduce form only): start summing one range of
  // grads_and_control as soon as backward has finished it; step() then waits
  // for the started sums instead of reducing everything itself. Every rank
  // must start the same ranges in the same order.
  void start_sum(std::span<float> range);
  // Lets MPI move the started sums along (no progress thread does it).
  void progress();

  GradientSync sync() const { return sync_; }
  std::int64_t step_count() const { return adam_.step_count(); }
  void set_learning_rate(float learning_rate) { adam_.set_learning_rate(learning_rate); }
  // The full moments [P] each, identical on every rank. Collective when
  // sharded (over all ranks) or shm (over the node).
  void full_moments(std::vector<float>& m, std::vector<float>& v) const;
  // Restores from full moments [P] (each rank keeps its slice when sharded).
  void restore(std::span<const float> m, std::span<const float> v, std::int64_t step);

 private:
  const Comm& comm_;
  GradientSync sync_;
  std::size_t param_count_;
  std::optional<NodeSum> shm_;        // shm only: gradients [P] + control word [1]
  Range slice_;                       // this rank's parameters when sharded or shm, else all
  std::vector<int> counts_, displs_;  // every rank's slice, for the collectives
  Adam adam_;                         // over slice_
  std::vector<float> reduced_;        // [slice size (+1 shm)] this rank's summed gradients
  std::vector<MPI_Request> pending_;  // sums started by start_sum, not yet waited for

  bool step_shm(std::span<float> params, std::span<float> grads_and_control, SyncSeconds& seconds,
                const GradientFactors& factors);
};

}  // namespace dpmnist
