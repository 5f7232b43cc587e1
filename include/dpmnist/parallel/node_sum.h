// Sums float vectors over ranks through the memory a node's ranks share
// (MPI-3 shared windows): each rank sums one slice straight from its peers'
// buffers and hands results back the same way; between nodes, one allreduce
// per slice (two levels). It needs the same number of ranks on every node.
// It knows nothing of layers: a prefix of the sum may instead be formed by a
// callback from side data every rank publishes (gradient_sum.cpp forms the
// first kernel's gradient from its factors this way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "dpmnist/core/shard.h"
#include "dpmnist/parallel/comm.h"

namespace dpmnist {

// Floats [0, floats) of the sum come from the caller instead of the buffers:
// each rank publishes side data of side_words words and side_floats floats,
// from which the callback forms the prefix's sum. All zero: no prefix.
struct FormedPrefix {
  std::size_t floats = 0, side_words = 0, side_floats = 0;
};

// One node rank's side data, as its peers see it.
struct SideData {
  std::span<const std::uint32_t> words;
  std::span<const float> floats;
};
// peers [node size] in, in rank order; range: floats of the prefix; out
// [range size] out (OVERWRITTEN) with their sum over the peers.
using FormPrefix =
    std::function<void(std::span<const SideData> peers, Range range, std::span<float> out)>;

class NodeSum {
 public:
  // The node communicator (Comm::split_by_node, evenly sized: see
  // nodes_are_even) and the world. count floats per rank: the first
  // count - tail are split into one slice per node rank, the last tail
  // (control words) are summed whole by every rank. Collective.
  NodeSum(const Comm& world, Comm node, std::size_t count, std::size_t tail,
          FormedPrefix prefix = {});

  // True on every rank iff every node holds node.size() ranks. Collective.
  static bool nodes_are_even(const Comm& world, const Comm& node);

  // [count] this rank's addend, in memory its node peers read (the prefix's
  // floats in it are ignored).
  std::span<float> buffer() const { return buffers_.mine(); }
  // This rank's part of [0, count - tail).
  Range slice() const { return slices_[static_cast<std::size_t>(node_.rank())]; }
  const Comm& node() const { return node_; }
  const Comm& cross() const { return *cross_; }

  bool has_prefix() const { return prefix_.floats > 0; }
  // This rank's side data [side_words], [side_floats]: written before each
  // reduce(), read by the node's ranks during it.
  std::span<std::uint32_t> side_words() const { return side_words_.mine(); }
  std::span<float> side_floats() const { return side_floats_.mine(); }

  // sum [slice size + tail] out: this rank's slice of every rank's addend,
  // summed in rank order (the prefix formed by `form`, required with a
  // prefix, from every rank's side data), then the tails summed. Collective;
  // buffers and side data must not change until the next allgather. Returns
  // the seconds spent in `form` (arithmetic, not communication).
  double reduce(std::span<float> sum, const FormPrefix& form = {});
  // values [count - tail] in/out: every rank's slice of values, written by
  // its owner, reaches every rank (nodes hold identical slices). Collective.
  void allgather(std::span<float> values);

 private:
  Comm node_;
  std::optional<Comm> cross_;  // the ranks of equal node rank, one per node
  std::size_t count_, tail_;
  std::vector<Range> slices_;  // [node size]
  void fence();                // all the windows, one node barrier
  // The slice's part of the prefix into out [slice size]; returns form's seconds.
  double form_prefix(const FormPrefix& form, float* out);

  SharedFloats buffers_;    // [count] per rank: the addends
  SharedFloats published_;  // [largest slice] per rank: allgather's source
  FormedPrefix prefix_;
  SharedWords side_words_;       // [prefix_.side_words] per rank
  SharedFloats side_floats_;     // [prefix_.side_floats] per rank
  std::vector<SideData> peers_;  // [node size] views of every rank's side data
  bool formed_by_owner_;         // each rank forms its own slice's prefix part
  std::vector<Range> formed_;    // [node size] the prefix floats each rank forms
  SharedFloats formed_floats_;   // unless formed by owner: [formed_ size] per rank, for the owners
};

}  // namespace dpmnist
