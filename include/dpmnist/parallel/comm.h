// The only door to MPI: world rank/size, the few collectives training needs,
// and abort. Every call is collective over the communicator unless it says
// otherwise; callers must reach them in the same order on every rank.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dpmnist {

// Before MPI_Init: an explanation if SLURM started this process as one of
// several step tasks without a PMI that Open MPI can use (srun --mpi=none or
// pmi2 with Debian's Open MPI), where MPI_Init would abort with a misleading
// message or each task would train alone; empty when the launch looks sound.
std::string launcher_problem();

// The MPI library and its version ("Open MPI v4.1.4", "MPICH Version: 4.0.2"),
// the first line of MPI_Get_library_version; valid before MPI_Init.
std::string mpi_library_version();

// MPI_Init / MPI_Finalize for the lifetime of main().
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

class Comm {
 public:
  explicit Comm(MPI_Comm comm = MPI_COMM_WORLD);
  // A communicator made by split() or split_by_node() is freed with its Comm
  // (but not while an exception unwinds: freeing is collective, and the other
  // ranks may be elsewhere; MPI_Abort follows then anyway).
  ~Comm();
  Comm(Comm&& other) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm raw() const { return comm_; }
  std::string host() const;  // not collective

  // In-place elementwise sum over ranks.
  void allreduce_sum(std::span<float> values) const;
  void allreduce_sum(std::span<double> values) const;
  void allreduce_sum(std::span<std::int64_t> values) const;
  // mine [n] from every rank into all [size * n], rank r's at r * n.
  void allgather(std::span<const double> mine, std::span<double> all) const;
  // In-place elementwise max over ranks.
  void allreduce_max(std::span<double> values) const;
  // values [sum(counts)] in; mine [counts[rank]] out = the sum over ranks of
  // this rank's block (blocks in rank order).
  void reduce_scatter_sum(std::span<const float> values, std::span<float> mine,
                          std::span<const int> counts) const;
  // values [sum(counts)] in/out: rank r's block (at displs[r]) goes to every rank.
  void allgather_in_place(std::span<float> values, std::span<const int> counts,
                          std::span<const int> displs) const;
  // Non-blocking in-place sum; wait() before reading values.
  MPI_Request iallreduce_sum(std::span<float> values) const;
  static void wait(MPI_Request& request);

  // Overwrites values on every rank with root's.
  void broadcast(std::span<float> values, int root = 0) const;
  void broadcast(std::span<std::uint8_t> values, int root = 0) const;
  void broadcast(std::string& text, int root = 0) const;

  // True on every rank iff every rank passed the same value.
  bool agree(std::uint64_t value) const;
  // Logical OR of flag over ranks.
  bool any(bool flag) const;

  void barrier() const;

  // The ranks of this rank's node (sharing memory), or, with ranks_per_node >
  // 0, consecutive groups of that many ranks (to run multi-node code paths on
  // one machine). Ordered as in this communicator.
  Comm split_by_node(int ranks_per_node = 0) const;
  // The ranks that pass the same color, ordered by key.
  Comm split(int color, int key) const;
  // Ends every rank of the job; not collective (any one rank may call it).
  [[noreturn]] void abort(int code) const;

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
  bool owned_ = false;
};

// Values of type T (float or std::uint32_t) shared by the ranks of one node
// through an MPI-3 shared-memory window: every rank owns `count` of them (its
// own count; they may differ) and reads or writes any peer's as plain memory,
// with fence() between one rank's writes and another's reads.
// Not for ranks on different nodes (build it on Comm::split_by_node()).
template <typename T>
class SharedArray {
 public:
  SharedArray(const Comm& node, std::size_t count);  // collective over node
  ~SharedArray();  // collective (skipped while an exception unwinds)
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;

  std::span<T> mine() const { return of(rank_); }
  std::span<T> of(int node_rank) const;
  // Every rank's writes before the fence are seen by every rank after it.
  // Collective over node: MPI_Win_sync, MPI_Barrier, MPI_Win_sync.
  void fence() const;
  // MPI_Win_sync alone (not collective): for callers that order several
  // windows around one barrier of their own.
  void sync() const;

 private:
  MPI_Comm comm_;
  MPI_Win window_ = MPI_WIN_NULL;
  int rank_ = 0;
  std::vector<T*> bases_;            // [node size] each rank's values in this address space
  std::vector<std::size_t> counts_;  // [node size] how many each rank owns
};
using SharedFloats = SharedArray<float>;
using SharedWords = SharedArray<std::uint32_t>;

}  // namespace dpmnist
