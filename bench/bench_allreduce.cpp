// dpmnist-bench-allreduce: latency and bandwidth of the in-place float-sum
// allreduce the trainer runs (Comm::allreduce_sum, or iallreduce_sum + wait),
// over message sizes, in the manner of osu_allreduce; with --shm, of the
// same sum through node shared memory (NodeSum::reduce + allgather, what
// gradient_sync = shm does around Adam). It times the sum alone: no data
// file, no network, and nothing the trainer does around the collective.
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/parallel/node_sum.h"

namespace po = boost::program_options;
using namespace dpmnist;

namespace {

// A message size to time; label names the model whose gradient it is, if any.
struct Message {
  std::size_t floats = 0;
  std::string label;
};

struct Row {
  Message message;
  std::size_t iterations = 0, warmup = 0;
  double avg_us = 0, median_us = 0, min_us = 0, max_us = 0;  // each the max over ranks
};

// Floats in the trainer's gradient buffer of a 784-hidden...-10 network: every
// kernel and bias, plus the one control word the trainer reduces with them.
std::size_t gradient_floats(const std::vector<std::size_t>& hidden) {
  std::size_t total = 0, in = 784;
  for (std::size_t out : hidden) {
    total += in * out + out;
    in = out;
  }
  return total + in * 10 + 10 + 1;
}

std::vector<Message> message_sizes(std::size_t min_bytes, std::size_t max_bytes, bool models) {
  std::vector<Message> sizes;
  for (std::size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 2) {
    sizes.push_back({bytes / sizeof(float), ""});
  }
  if (models) {
    const Message named[] = {{gradient_floats({128}), "seed 784-128-10 gradient"},
                             {gradient_floats({1024, 1024}), "wide 784-1024-1024-10 gradient"}};
    for (const Message& m : named) {
      if (m.floats * sizeof(float) >= min_bytes && m.floats * sizeof(float) <= max_bytes) {
        sizes.push_back(m);
      }
    }
  }
  std::stable_sort(sizes.begin(), sizes.end(),
                   [](const Message& a, const Message& b) { return a.floats < b.floats; });
  return sizes;
}

// osu-like counts: many calls for small messages, at least 20 for the largest.
std::size_t auto_iterations(std::size_t bytes) {
  return std::clamp<std::size_t>((std::size_t{256} << 20) / bytes, 20, 1000);
}

void allreduce_once(const Comm& comm, std::span<float> values, bool nonblocking) {
  if (nonblocking) {
    MPI_Request request = comm.iallreduce_sum(values);
    Comm::wait(request);
  } else {
    comm.allreduce_sum(values);
  }
}

enum class Op { kAllreduce, kIallreduce, kShm };
const char* op_name(Op op) {
  return op == Op::kShm ? "shm" : op == Op::kIallreduce ? "iallreduce" : "allreduce";
}

// The sum under test over values; for shm, values is the NodeSum's buffer on
// input and a private copy of the result on output, as in the trainer.
struct Summer {
  Op op;
  std::optional<NodeSum> node;  // shm only
  std::vector<float> reduced;   // shm only: this rank's slice

  Summer(const Comm& comm, Op which, std::size_t floats) : op(which) {
    if (op != Op::kShm) return;
    Comm ranks_here = comm.split_by_node();
    require(NodeSum::nodes_are_even(comm, ranks_here),
            "--shm needs the same number of ranks on every node");
    node.emplace(comm, std::move(ranks_here), floats, 0);
    reduced.resize(node->slice().size());
  }
  std::span<float> input(std::vector<float>& values) {
    return node ? node->buffer() : std::span<float>(values);
  }
};

void allreduce_once(const Comm& comm, Summer& summer, std::vector<float>& values) {
  if (summer.op == Op::kShm) {
    summer.node->reduce(summer.reduced);
    std::copy(summer.reduced.begin(), summer.reduced.end(),
              values.begin() + static_cast<std::ptrdiff_t>(summer.node->slice().begin));
    summer.node->allgather(values);
    return;
  }
  allreduce_once(comm, values, summer.op == Op::kIallreduce);
}

// Sums rank-dependent small integers once and checks every element, so a
// broken transport cannot pass as a fast one.
void check_sum(const Comm& comm, Summer& summer, std::vector<float>& values) {
  const auto rank = static_cast<float>(comm.rank());
  std::span<float> input = summer.input(values);
  for (std::size_t i = 0; i < input.size(); ++i) {
    input[i] = rank + 1.0f + static_cast<float>(i % 7);
  }
  allreduce_once(comm, summer, values);
  const double p = comm.size();
  std::size_t wrong = 0, first_wrong = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double expected = p * (p + 1) / 2 + p * static_cast<double>(i % 7);
    if (values[i] != static_cast<float>(expected) && wrong++ == 0) first_wrong = i;
  }
  const bool any_wrong = comm.any(wrong != 0);
  require(!any_wrong, "allreduce of ", values.size(), " floats gave wrong sums (rank ", comm.rank(),
          ": ", wrong, " wrong, first at index ", first_wrong, ")");
}

Row time_message(const Comm& comm, const Message& message, std::size_t iterations,
                 std::size_t warmup, Op op) {
  // Zeros stay zeros under repeated in-place sums: no overflow, no denormals.
  std::vector<float> values(message.floats, 0.0f);
  Summer summer(comm, op, message.floats);
  const std::size_t bytes = message.floats * sizeof(float);
  Row row{message, iterations ? iterations : auto_iterations(bytes), 0, 0, 0, 0, 0};
  row.warmup = warmup ? warmup : std::max<std::size_t>(5, row.iterations / 10);
  for (std::size_t i = 0; i < row.warmup; ++i) allreduce_once(comm, summer, values);
  std::vector<double> seconds(row.iterations);
  comm.barrier();
  for (std::size_t i = 0; i < row.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    allreduce_once(comm, summer, values);
    seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double mean =
      std::accumulate(seconds.begin(), seconds.end(), 0.0) / static_cast<double>(seconds.size());
  std::sort(seconds.begin(), seconds.end());
  std::vector<double> stats = {mean * 1e6, seconds[seconds.size() / 2] * 1e6, seconds.front() * 1e6,
                               seconds.back() * 1e6};
  comm.allreduce_max(stats);
  row.avg_us = stats[0];
  row.median_us = stats[1];
  row.min_us = stats[2];
  row.max_us = stats[3];
  check_sum(comm, summer, values);
  return row;
}

// algbw: bytes per second of the caller's buffer at the median latency; busbw:
// times 2(p-1)/p, the bytes each rank sends and receives in a ring allreduce
// (as nccl-tests). The median, not the mean: one descheduled rank on a shared
// machine costs a whole time slice and would set the mean alone.
double algbw_gbps(const Row& row) {
  return static_cast<double>(row.message.floats * sizeof(float)) / (row.median_us * 1e-6) / 1e9;
}
double busbw_gbps(const Row& row, int ranks) {
  return algbw_gbps(row) * 2.0 * (ranks - 1) / ranks;
}

void print_table(const std::vector<Row>& rows, const Comm& comm, Op op) {
  const char* what = op == Op::kShm ? "node shared memory (NodeSum reduce + allgather)"
                     : op == Op::kIallreduce
                         ? "MPI_Iallreduce(MPI_IN_PLACE, MPI_FLOAT, MPI_SUM) + MPI_Wait"
                         : "MPI_Allreduce(MPI_IN_PLACE, MPI_FLOAT, MPI_SUM)";
  std::printf("# dpmnist-bench-allreduce: %s, %d rank(s), rank 0 on %s\n# machine: %s\n", what,
              comm.size(), comm.host().c_str(),
              (runtime_description() + ", " + mpi_library_version()).c_str());
  std::printf(
      "# latency per call in us: avg, median, min, max over the timed iterations, each "
      "the max over ranks\n# algbw = bytes / median (robust to preemption on a shared "
      "machine); busbw = algbw * 2(p-1)/p; GB/s = 1e9 B/s\n");
  std::printf("%12s %10s %6s %10s %10s %10s %10s %11s %11s  %s\n", "bytes", "floats", "iters",
              "avg_us", "median_us", "min_us", "max_us", "algbw_GB/s", "busbw_GB/s", "message");
  for (const Row& r : rows) {
    std::printf("%12zu %10zu %6zu %10.2f %10.2f %10.2f %10.2f %11.3f %11.3f  %s\n",
                r.message.floats * sizeof(float), r.message.floats, r.iterations, r.avg_us,
                r.median_us, r.min_us, r.max_us, algbw_gbps(r), busbw_gbps(r, comm.size()),
                r.message.label.c_str());
  }
}

void write_csv(const std::string& path, const std::vector<Row>& rows, const Comm& comm, Op op) {
  std::ofstream out(path);
  require(out.good(), "cannot write --csv file ", path);
  out << "bytes,floats,ranks,op,iterations,warmup,avg_us,median_us,min_us,max_us,algbw_gbps,"
         "busbw_gbps,label\n";
  for (const Row& r : rows) {
    out << r.message.floats * sizeof(float) << ',' << r.message.floats << ',' << comm.size() << ','
        << op_name(op) << ',' << r.iterations << ',' << r.warmup << ',' << r.avg_us << ','
        << r.median_us << ',' << r.min_us << ',' << r.max_us << ',' << algbw_gbps(r) << ','
        << busbw_gbps(r, comm.size()) << ',' << r.message.label << '\n';
  }
  require(out.good(), "write to --csv file ", path, " failed");
}

}  // namespace

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  MpiSession session(&argc, &argv);
  const Comm comm;
  try {
    std::size_t min_bytes = 4096, max_bytes = std::size_t{64} << 20, iterations = 0, warmup = 0;
    std::string csv;
    po::options_description options(
        "dpmnist-bench-allreduce options (run under mpirun; sizes in bytes, powers of 2 from "
        "--min-bytes to --max-bytes, plus the seed and wide models' gradient sizes)");
    options.add_options()("help,h", "print this help")(
        "min-bytes", po::value(&min_bytes)->default_value(min_bytes), "smallest message")(
        "max-bytes", po::value(&max_bytes)->default_value(max_bytes), "largest message")(
        "iters", po::value(&iterations)->default_value(0),
        "timed calls per size; 0 = 1000 for small messages down to 20 for the largest")(
        "warmup", po::value(&warmup)->default_value(0), "untimed calls first; 0 = iters / 10")(
        "nonblocking", "time MPI_Iallreduce + MPI_Wait instead of MPI_Allreduce")(
        "shm", "time the node shared-memory sum (gradient_sync = shm) instead")(
        "no-model-sizes", "only the powers of 2")("csv", po::value(&csv),
                                                  "also write the table to this CSV file (rank 0)");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
    if (vm.count("help")) {
      if (comm.rank() == 0) std::cout << options << '\n';
      return 0;
    }
    require(min_bytes >= sizeof(float) && min_bytes % sizeof(float) == 0 && min_bytes <= max_bytes,
            "--min-bytes ", min_bytes, " and --max-bytes ", max_bytes,
            ": need a multiple of 4 bytes, and min <= max");
    const Op op = vm.count("shm")           ? Op::kShm
                  : vm.count("nonblocking") ? Op::kIallreduce
                                            : Op::kAllreduce;
    std::vector<Row> rows;
    for (const Message& message :
         message_sizes(min_bytes, max_bytes, !vm.count("no-model-sizes"))) {
      rows.push_back(time_message(comm, message, iterations, warmup, op));
    }
    if (comm.rank() == 0) {
      print_table(rows, comm, op);
      if (!csv.empty()) write_csv(csv, rows, comm, op);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[rank %d] error: %s\n", comm.rank(), e.what());
    if (comm.size() > 1) comm.abort(1);
    return 1;
  }
}
