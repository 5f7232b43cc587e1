// Sums float vectors over ranks through the memory a node's ranks share
// (MPI-3 shared windows): each rank sums one slice straight from its peers'
// buffers and hands results back the same way; between nodes, one allreduce
// per slice (two levels). It needs the same number of ranks on every node.
// The first rows of each addend may come as factors instead (sparse_input.h:
// x^T dy), and each rank forms its slice of their sum from every rank's
// factors: for a sparse input layer they are far fewer bytes than the rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dpmnist/core/shard.h"
#include "dpmnist/nn/sparse_input.h"
#include "dpmnist/parallel/comm.h"

namespace dpmnist {

// Addends whose floats [0, rows * width) come as factors x^T dy: x [B, rows]
// by columns, dy [B, width], B <= max_batch. All zero: no factors.
struct FactorShape {
  std::size_t rows = 0, width = 0, max_batch = 0;
};

// Whether factors cost fewer floats read from peers than whole gradients, per
// rank and step, on nodes of k ranks: (k-1) (B W + 2 B R d / k) against
// (k-1) R W / k, that is k B W + 2 B R d < R W, for inputs of density at most
// d. Each rank reads every peer's dy in full, so large nodes tip it to whole
// gradients: the seed model (R 784, W 128, B 32, d 0.5) up to k = 18.
bool factors_are_smaller(const FactorShape& shape, int ranks_per_node, double density);

class NodeSum {
 public:
  // The node communicator (Comm::split_by_node, evenly sized: see
  // nodes_are_even) and the world. count floats per rank: the first
  // count - tail are split into one slice per node rank, the last tail
  // (control words) are summed whole by every rank. Collective.
  NodeSum(const Comm& world, Comm node, std::size_t count, std::size_t tail,
          FactorShape factors = {});

  // True on every rank iff every node holds node.size() ranks. Collective.
  static bool nodes_are_even(const Comm& world, const Comm& node);

  // [count] this rank's addend, in memory its node peers read.
  std::span<float> buffer() const { return buffers_.mine(); }
  // This rank's part of [0, count - tail).
  Range slice() const { return slices_[static_cast<std::size_t>(node_.rank())]; }
  const Comm& node() const { return node_; }
  const Comm& cross() const { return *cross_; }

  bool has_factors() const { return factors_.rows > 0; }
  // With factors, before each reduce(): this rank's addend's floats
  // [0, rows * width) are mine.x^T mine.dy (buffer() holds the rest). Copies
  // them where the node's ranks read them. Sizes are checked; the entries are
  // trusted (peers read them as they are): col_start non-decreasing, every
  // col_row below the batch dy.size() / width.
  void set_factors(const GradientFactors& mine);

  // sum [slice size + tail] out: this rank's slice of every rank's addend,
  // summed in rank order (the factored part formed from every rank's
  // factors), then the tails summed. Collective; buffers and factors must
  // not change until the next allgather. Returns the seconds spent forming
  // the factored part (arithmetic, not communication).
  double reduce(std::span<float> sum);
  // values [count - tail] in/out: every rank's slice of values, written by
  // its owner, reaches every rank (nodes hold identical slices). Collective.
  void allgather(std::span<float> values);

 private:
  Comm node_;
  std::optional<Comm> cross_;  // the ranks of equal node rank, one per node
  std::size_t count_, tail_;
  std::vector<Range> slices_;  // [node size]
  void fence();                // all the windows, one node barrier

  SharedFloats buffers_;    // [count] per rank: the addends
  SharedFloats published_;  // [largest slice] per rank: allgather's source
  FactorShape factors_;
  bool factors_set_ = false;  // set_factors() since the last reduce()
  SharedWords columns_;       // per rank: [1] batch, [rows + 1] col_start, [max_batch rows] col_row
  SharedFloats factor_values_;  // per rank: [max_batch rows] col_value, [max_batch width] dy
  std::vector<GradientFactors> parts_;  // [node size] views of every rank's factors
  bool formed_by_owner_;                // each rank forms its own slice's factored part
  std::vector<Range> formed_;           // [node size] the factored floats each rank forms
  SharedFloats formed_rows_;  // unless formed by owner: [formed_ size] per rank, for the owners
};

}  // namespace dpmnist
