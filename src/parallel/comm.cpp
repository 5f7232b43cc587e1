#include "dpmnist/parallel/comm.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <exception>
#include <utility>

#include "dpmnist/core/error.h"

namespace dpmnist {
namespace {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(concat(call, " failed: ", std::string(text, static_cast<std::size_t>(length))));
}

}  // namespace

std::string launcher_problem() {
  // srun sets SLURM_STEP_NUM_TASKS for step tasks (the batch shell has none);
  // a working PMI, or mpirun, leaves one of the others.
  const char* step_tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  const long tasks = step_tasks ? std::atol(step_tasks) : 0;
  if (tasks <= 1) return {};
  for (const char* wired : {"PMIX_RANK", "PMI_RANK", "PMI_FD", "OMPI_COMM_WORLD_SIZE"}) {
    if (std::getenv(wired)) return {};
  }
  return concat("srun started ", tasks, " tasks without a PMI this Open MPI can use (",
                "no PMIX_RANK, PMI_RANK or PMI_FD), so MPI cannot wire them into one job and each ",
                "would train alone. Launch with srun --mpi=pmix (see `srun --mpi=list`), or with ",
                "mpirun inside the allocation.");
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<std::size_t>(std::max(0, length)));
  // Open MPI: "Open MPI v4.1.4, package: ..."; MPICH: "MPICH Version:\t4.0.2\n...".
  version = version.substr(0, version.find_first_of(",\n"));
  std::replace(version.begin(), version.end(), '\t', ' ');
  while (!version.empty() && version.back() == ' ') version.pop_back();
  return version;
}

MpiSession::MpiSession(int* argc, char*** argv) {
  check_mpi(MPI_Init(argc, argv), "MPI_Init");
  // Errors come back as codes we turn into exceptions, not as silent aborts.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiSession::~MpiSession() {
  MPI_Finalize();
}

Comm::Comm(MPI_Comm comm) : comm_(comm) {
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

Comm::~Comm() {
  if (owned_ && std::uncaught_exceptions() == 0) MPI_Comm_free(&comm_);
}

Comm::Comm(Comm&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      rank_(other.rank_),
      size_(other.size_),
      owned_(std::exchange(other.owned_, false)) {}

Comm Comm::split_by_node(int ranks_per_node) const {
  MPI_Comm node = MPI_COMM_NULL;
  if (ranks_per_node > 0) {
    check_mpi(MPI_Comm_split(comm_, rank_ / ranks_per_node, rank_, &node), "MPI_Comm_split");
  } else {
    check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type(SHARED)");
  }
  Comm result(node);
  result.owned_ = true;
  return result;
}

Comm Comm::split(int color, int key) const {
  MPI_Comm part = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(comm_, color, key, &part), "MPI_Comm_split");
  Comm result(part);
  result.owned_ = true;
  return result;
}

template <typename T>
SharedArray<T>::SharedArray(const Comm& node, std::size_t count)
    : comm_(node.raw()), rank_(node.rank()) {
  T* base = nullptr;
  MPI_Info info;
  check_mpi(MPI_Info_create(&info), "MPI_Info_create");
  // Each rank's floats on its own pages (first touch by their owner).
  check_mpi(MPI_Info_set(info, "alloc_shared_noncontig", "true"), "MPI_Info_set");
  const int code =
      MPI_Win_allocate_shared(static_cast<MPI_Aint>(count * sizeof(T)), static_cast<int>(sizeof(T)),
                              info, comm_, &base, &window_);
  MPI_Info_free(&info);
  check_mpi(code, "MPI_Win_allocate_shared");
  // Errors on the window come back as codes too, like the communicators'.
  check_mpi(MPI_Win_set_errhandler(window_, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");
  bases_.resize(static_cast<std::size_t>(node.size()));
  for (int r = 0; r < node.size(); ++r) {
    MPI_Aint size = 0;  // may be rounded up to pages: the counts come from the owners
    int unit = 0;
    check_mpi(MPI_Win_shared_query(window_, r, &size, &unit, &bases_[static_cast<std::size_t>(r)]),
              "MPI_Win_shared_query");
  }
  const double mine = static_cast<double>(count);
  std::vector<double> counts(bases_.size());
  node.allgather(std::span<const double>(&mine, 1), counts);
  for (double c : counts) counts_.push_back(static_cast<std::size_t>(c));
  // One passive epoch for the window's life; fence() orders the accesses.
  check_mpi(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_), "MPI_Win_lock_all");
  std::fill_n(base, count, T{});
  fence();
}

template <typename T>
SharedArray<T>::~SharedArray() {
  if (window_ == MPI_WIN_NULL || std::uncaught_exceptions() > 0) return;
  MPI_Win_unlock_all(window_);
  MPI_Win_free(&window_);
}

template <typename T>
std::span<T> SharedArray<T>::of(int node_rank) const {
  require(node_rank >= 0 && static_cast<std::size_t>(node_rank) < bases_.size(),
          "SharedArray: node rank ", node_rank, " outside [0,", bases_.size(), ")");
  const auto q = static_cast<std::size_t>(node_rank);
  return {bases_[q], counts_[q]};
}

template <typename T>
void SharedArray<T>::sync() const {
  check_mpi(MPI_Win_sync(window_), "MPI_Win_sync");
}

template <typename T>
void SharedArray<T>::fence() const {
  check_mpi(MPI_Win_sync(window_), "MPI_Win_sync");
  check_mpi(MPI_Barrier(comm_), "MPI_Barrier");
  check_mpi(MPI_Win_sync(window_), "MPI_Win_sync");
}

template class SharedArray<float>;
template class SharedArray<std::uint32_t>;

std::string Comm::host() const {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

void Comm::allreduce_sum(std::span<float> values) const {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, values.data(), to_int(values.size(), "allreduce count"),
                          MPI_FLOAT, MPI_SUM, comm_),
            "MPI_Allreduce(float)");
}

void Comm::allreduce_sum(std::span<double> values) const {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, values.data(), to_int(values.size(), "allreduce count"),
                          MPI_DOUBLE, MPI_SUM, comm_),
            "MPI_Allreduce(double)");
}

void Comm::allreduce_sum(std::span<std::int64_t> values) const {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, values.data(), to_int(values.size(), "allreduce count"),
                          MPI_INT64_T, MPI_SUM, comm_),
            "MPI_Allreduce(int64)");
}

void Comm::allgather(std::span<const double> mine, std::span<double> all) const {
  require(all.size() == mine.size() * static_cast<std::size_t>(size_), "allgather: ", all.size(),
          " slots for ", size_, " ranks of ", mine.size());
  const int count = to_int(mine.size(), "allgather count");
  check_mpi(MPI_Allgather(mine.data(), count, MPI_DOUBLE, all.data(), count, MPI_DOUBLE, comm_),
            "MPI_Allgather(double)");
}

void Comm::allreduce_max(std::span<double> values) const {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, values.data(), to_int(values.size(), "allreduce count"),
                          MPI_DOUBLE, MPI_MAX, comm_),
            "MPI_Allreduce(max double)");
}

void Comm::reduce_scatter_sum(std::span<const float> values, std::span<float> mine,
                              std::span<const int> counts) const {
  require(counts.size() == static_cast<std::size_t>(size_) &&
              mine.size() == static_cast<std::size_t>(counts[static_cast<std::size_t>(rank_)]),
          "reduce_scatter_sum: counts for ", counts.size(), " ranks, ", mine.size(),
          " slots on rank ", rank_);
  check_mpi(
      MPI_Reduce_scatter(values.data(), mine.data(), counts.data(), MPI_FLOAT, MPI_SUM, comm_),
      "MPI_Reduce_scatter(float)");
}

void Comm::allgather_in_place(std::span<float> values, std::span<const int> counts,
                              std::span<const int> displs) const {
  require(counts.size() == static_cast<std::size_t>(size_) && displs.size() == counts.size(),
          "allgather_in_place: counts/displs for ", counts.size(), " ranks, world ", size_);
  check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, values.data(), counts.data(),
                           displs.data(), MPI_FLOAT, comm_),
            "MPI_Allgatherv(float)");
}

MPI_Request Comm::iallreduce_sum(std::span<float> values) const {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, values.data(), to_int(values.size(), "allreduce count"),
                           MPI_FLOAT, MPI_SUM, comm_, &request),
            "MPI_Iallreduce(float)");
  return request;
}

void Comm::wait(MPI_Request& request) {
  check_mpi(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
}

void Comm::broadcast(std::span<float> values, int root) const {
  check_mpi(
      MPI_Bcast(values.data(), to_int(values.size(), "broadcast count"), MPI_FLOAT, root, comm_),
      "MPI_Bcast(float)");
}

void Comm::broadcast(std::span<std::uint8_t> values, int root) const {
  check_mpi(
      MPI_Bcast(values.data(), to_int(values.size(), "broadcast count"), MPI_UINT8_T, root, comm_),
      "MPI_Bcast(uint8)");
}

void Comm::broadcast(std::string& text, int root) const {
  std::uint64_t length = text.size();
  check_mpi(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast(length)");
  text.resize(length);
  check_mpi(
      MPI_Bcast(text.data(), to_int(length, "broadcast string length"), MPI_CHAR, root, comm_),
      "MPI_Bcast(string)");
}

bool Comm::agree(std::uint64_t value) const {
  // min(v) and min(~v) = ~max(v) in one collective.
  std::uint64_t both[2] = {value, ~value};
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, both, 2, MPI_UINT64_T, MPI_MIN, comm_),
            "MPI_Allreduce(min)");
  return both[0] == ~both[1];
}

bool Comm::any(bool flag) const {
  int value = flag ? 1 : 0;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_LOR, comm_), "MPI_Allreduce(lor)");
  return value != 0;
}

void Comm::barrier() const {
  check_mpi(MPI_Barrier(comm_), "MPI_Barrier");
}

void Comm::abort(int code) const {
  MPI_Abort(comm_, code);
  _exit(code);
}

}  // namespace dpmnist
