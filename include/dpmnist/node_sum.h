// Sums float vectors over ranks through the memory a node's ranks share
// (MPI-3 shared windows): each rank sums one slice straight from its peers'
// buffers and hands results back the same way; between nodes, one allreduce
// per slice (two levels). It needs the same number of ranks on every node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dpmnist/comm.h"
#include "dpmnist/shard.h"

namespace dpmnist {

class NodeSum {
 public:
  // The node communicator (Comm::split_by_node, evenly sized: see
  // nodes_are_even) and the world. count floats per rank: the first
  // count - tail are split into one slice per node rank, the last tail
  // (control words) are summed whole by every rank. Collective.
  // row_width > 0 lets set_zero_rows() describe addends by rows of that
  // many floats from index 0 (up to max_rows of them).
  NodeSum(const Comm& world, Comm node, std::size_t count, std::size_t tail,
          std::size_t row_width = 0, std::size_t max_rows = 0);

  // True on every rank iff every node holds node.size() ranks. Collective.
  static bool nodes_are_even(const Comm& world, const Comm& node);

  // [count] this rank's addend, in memory its node peers read.
  std::span<float> buffer() const { return buffers_.mine(); }
  // This rank's part of [0, count - tail).
  Range slice() const { return slices_[static_cast<std::size_t>(node_.rank())]; }
  const Comm& node() const { return node_; }
  const Comm& cross() const { return *cross_; }

  // sum [slice size + tail] out: this rank's slice of every rank's buffer(),
  // summed in rank order, then the tails summed. Collective; buffers must
  // not change until the next allgather.
  void reduce(std::span<float> sum);

  // Before reduce(): rows r with lit[r] == 0 of this rank's addend (floats
  // [r w, (r+1) w), w = row_width) are all +0, so the summing ranks skip
  // them (no read, and no copy of those lines left in their caches for this
  // rank's next writes to invalidate). An empty lit: no rows known zero;
  // rows past max_rows are not described.
  // It describes the next reduce() and lapses at the allgather() after it.
  void set_zero_rows(std::span<const std::uint8_t> lit);
  // values [count - tail] in/out: every rank's slice of values, written by
  // its owner, reaches every rank (nodes hold identical slices). Collective.
  void allgather(std::span<float> values);

 private:
  Comm node_;
  std::optional<Comm> cross_;  // the ranks of equal node rank, one per node
  std::size_t count_, tail_;
  std::vector<Range> slices_;  // [node size]
  void fence();                // all three windows, one node barrier

  SharedFloats buffers_;    // [count] per rank: the addends
  SharedFloats published_;  // [largest slice] per rank: allgather's source
  std::size_t row_width_, max_rows_;
  SharedFloats lit_rows_;  // [1 + max_rows] per rank: row count, then 1/0 per row
};

}  // namespace dpmnist
