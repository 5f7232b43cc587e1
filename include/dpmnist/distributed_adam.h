// Adam over ranks: sums every rank's gradients and takes the same step
// everywhere: replicated (one allreduce, Adam on all parameters everywhere),
// sharded as in ZeRO-1 (reduce-scatter, Adam on each rank's slice, allgather),
// or shm, the sharded form through node shared memory (node_sum.h).
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

class DistributedAdam {
 public:
  // ranks_per_node (shm only): 0 finds the nodes; k > 0 treats consecutive
  // groups of k ranks as nodes (tests of the multi-node path on one machine).
  // shm needs the same number of ranks on every node; where they differ it
  // falls back to sharded (sync() says which form runs).
  // row_width, max_rows (shm only): the gradient's first max_rows rows of
  // row_width floats may be described as zero at each step (step's lit).
  DistributedAdam(const Comm& comm, std::size_t param_count, AdamSettings settings,
                  GradientSync sync, int ranks_per_node = 0, std::size_t row_width = 0,
                  std::size_t max_rows = 0);

  // shm: the gradient buffer [P+1] the network must accumulate into
  // (Network::bind_gradients), in memory the node's ranks share; else empty.
  std::span<float> gradient_buffer() const;

  // params [P] in/out; grads_and_control [P+1] in, clobbered: this rank's
  // gradient (already scaled to the global mean) and, last, its control word.
  // Collective. Returns true on every rank iff any rank's control word was > 0.
  // Adds the seconds spent communicating and updating to the two counters.
  // lit (shm only, may be empty): rows r with lit[r] == 0 of this rank's
  // gradient are all +0 (Network::first_layer_lit_rows), so peers skip them.
  bool step(std::span<float> params, std::span<float> grads_and_control, double& comm_seconds,
            double& optimizer_seconds, std::span<const std::uint8_t> lit = {});

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

  bool step_shm(std::span<float> params, std::span<float> grads_and_control, double& comm_seconds,
                double& optimizer_seconds, std::span<const std::uint8_t> lit);
};

}  // namespace dpmnist
