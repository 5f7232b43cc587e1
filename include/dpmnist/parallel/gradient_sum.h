// How the ranks' gradients are summed: one interface, one implementation per
// way (allreduce; sharded as in ZeRO-1; shm, the sharded form through node
// shared memory), chosen by make_gradient_sum, which alone decides the
// fallback and the factors. The optimizer only sees the buffer backward
// writes into, this rank's slice, reduce and gather. Factors arrive
// ready-made (Network::backward) and are formed by sparse_input.h's kernel.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "dpmnist/core/shard.h"
#include "dpmnist/nn/sparse_input.h"
#include "dpmnist/parallel/comm.h"

namespace dpmnist {

enum class GradientSync { kAllreduce, kSharded, kShm };
// "allreduce", "sharded" or "shm" (train.gradient_sync's words, read in config.cpp).
const char* gradient_sync_name(GradientSync sync);

// Seconds one step adds: forming gradients (from factors), communicating
// (waits included) and updating.
struct SyncSeconds {
  double gradient = 0, comm = 0, optimizer = 0;
};

class GradientSum {
 public:
  virtual ~GradientSum() = default;

  // [P + 1] this rank's addend, the gradients then the control word; backward
  // accumulates into it (Network::bind_gradients). Stable for the sum's life.
  virtual std::span<float> buffer() = 0;
  // The parameters this rank updates: all of them, or its slice.
  virtual Range slice() const = 0;
  // True on every rank alike when reduce() wants the first kernel's gradient
  // as factors (the buffer's part of it is then ignored).
  virtual bool takes_factors() const { return false; }
  virtual GradientSync sync() const = 0;

  // Collective. [slice size + 1] out: this rank's slice of every rank's
  // buffer, summed, then the summed control word (final once gather()
  // returns). factors: as takes_factors() says, else empty.
  virtual std::span<const float> reduce(const GradientFactors& factors, SyncSeconds& seconds) = 0;
  // Collective. params [P] in/out: every slice, updated by its owner, reaches
  // every rank.
  virtual void gather(std::span<float> params, SyncSeconds& seconds) = 0;
  // Collective. values [P] in/out, of which this rank holds its slice:
  // afterwards every rank holds all (Adam's moments for a checkpoint).
  virtual void gather_slices(std::span<float> values) const = 0;
};

// Whether factors cost fewer floats read from peers than whole gradients, per
// rank and step, on nodes of k ranks: (k-1) (B W + 2 B R d / k) against
// (k-1) R W / k, that is k B W + 2 B R d < R W, for inputs of density at most
// d. Each rank reads every peer's dy in full, so large nodes tip it to whole
// gradients: the seed model (R 784, W 128, B 32, d 0.5) up to k = 18.
bool factors_are_smaller(const FactorShape& shape, int ranks_per_node, double density);

// The sum for `requested` over comm for param_count parameters (+1 control
// word). shm needs the same number of ranks on every node: where they differ
// it returns the sharded sum (sync() says which). ranks_per_node (shm): 0
// finds the nodes; k > 0 groups k consecutive ranks (tests of the multi-node
// path on one machine). factors (shm, more than one rank): the first kernel's
// gradient travels as its factors; with auto_density > 0 only where that
// reads fewer bytes (factors_are_smaller), decided alike on every rank.
std::unique_ptr<GradientSum> make_gradient_sum(const Comm& comm, std::size_t param_count,
                                               GradientSync requested, int ranks_per_node = 0,
                                               FactorShape factors = {}, double auto_density = 0);

}  // namespace dpmnist
