#include "dpmnist/trainer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <numeric>
#include <sstream>

#include "dpmnist/batch.h"
#include "dpmnist/blas.h"
#include "dpmnist/checkpoint.h"
#include "dpmnist/dataset.h"
#include "dpmnist/epoch_plan.h"
#include "dpmnist/error.h"
#include "dpmnist/evaluate.h"
#include "dpmnist/hdf5_file.h"
#include "dpmnist/number.h"
#include "dpmnist/rng.h"
#include "dpmnist/runtime.h"
#include "dpmnist/shard.h"
#include "dpmnist/stop_signal.h"

namespace dpmnist {
namespace {

// Rank 0's problem (empty: none) reaches every rank, and every rank throws it
// alike: no rank goes on to a collective the others will not reach.
void stop_all_if(const Comm& comm, std::string problem) {
  comm.broadcast(problem);
  require(problem.empty(), problem);
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// This rank's shards, read collectively: training rows [0, train_count),
// validation rows [train_count, info.train_count) held out of /train (the
// train rows are stored class-balanced, so any tail block is too), and test.
struct Shards {
  DataInfo info;
  std::size_t train_count = 0;
  Digits train, validation, test;
};

Shards load_shards(const Comm& comm, const std::string& path, std::size_t validation_size) {
  require(std::filesystem::exists(path), "data file ", path,
          " does not exist; make it with data/fetch_mnist.sh && build/bin/dpmnist-prepare",
          " --raw data/raw --out ", path);
  H5File file = H5File::open_read_parallel(path, comm.raw());
  Shards s;
  s.info = inspect_dataset(file);
  require(comm.agree(s.info.fingerprint), "rank ", comm.rank(), " on ", comm.host(),
          ": the ranks opened different data files at ", path,
          " (fingerprints differ); every node must see the same file");
  require(validation_size < s.info.train_count, "train.validation_size = ", validation_size,
          " leaves no training digits of the ", s.info.train_count, " in ", path);
  s.train_count = s.info.train_count - validation_size;
  s.train = read_digits(file, "train", shard_range(s.train_count, comm.rank(), comm.size()));
  const Range held_out = shard_range(validation_size, comm.rank(), comm.size());
  s.validation =
      read_digits(file, "train", {s.train_count + held_out.begin, s.train_count + held_out.end});
  s.test = read_digits(file, "test", shard_range(s.info.test_count, comm.rank(), comm.size()));
  return s;
}

// Fault injection for the fault tests: DPMNIST_FAULT_<name>=N, or -1 if unset.
std::int64_t fault_setting(const char* name) {
  const char* value = std::getenv((std::string("DPMNIST_FAULT_") + name).c_str());
  return value ? std::atoll(value) : -1;
}

// DPMNIST_RANKS_PER_NODE=k makes gradient_sync = shm treat groups of k ranks
// as nodes (the multi-node path on one machine); unset or 0: the real nodes.
int ranks_per_node_override() {
  const char* value = std::getenv("DPMNIST_RANKS_PER_NODE");
  return value ? parse_number("DPMNIST_RANKS_PER_NODE", value, between(0, 1 << 20)) : 0;
}

// srun without working PMI can start N one-rank jobs that would each train
// alone; the apps check launcher_problem() before MPI_Init, this catches a
// world of 1 that slipped through.
void require_working_launcher(const Comm& comm) {
  if (comm.size() > 1 || std::getenv("OMPI_COMM_WORLD_SIZE")) return;
  const std::string problem = launcher_problem();
  const char* step_tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  require(problem.empty() && !(step_tasks && std::atol(step_tasks) > 1),
          problem.empty() ? concat("SLURM_STEP_NUM_TASKS = ", step_tasks ? step_tasks : "",
                                   " but MPI sees a world of 1: launch with srun --mpi=pmix")
                          : problem);
}

// DPMNIST_TRACE_ROWS=PREFIX: each rank appends the training rows of every step
// to PREFIX.rank<r> ("epoch global_step row..."), for the tests that count
// each digit's visits across a stop and a resume; unset, it does nothing.
class RowTrace {
 public:
  explicit RowTrace(int rank) {
    if (const char* prefix = std::getenv("DPMNIST_TRACE_ROWS")) {
      const std::string path = concat(prefix, ".rank", rank);
      out_.open(path, std::ios::app);
      require(out_.good(), cannot_write_file(path));
    }
  }
  void record(std::size_t epoch, std::int64_t global_step, std::size_t first_row,
              std::span<const std::uint32_t> rows) {
    if (!out_.is_open()) return;
    out_ << epoch + 1 << ' ' << global_step;
    for (std::uint32_t row : rows) out_ << ' ' << first_row + row;
    out_ << '\n';
  }

 private:
  std::ofstream out_;
};

// The rows a checkpoint written mid-epoch had trained, checked against this
// data; format_version 1 recorded only the step, so its rows come from the
// schedule it ran (the world size it names, this configuration's batch).
void check_resume_progress(Checkpoint& start, const TrainConfig& config,
                           std::size_t train_count, const std::string& path, int size,
                           std::ostream& log) {
  if (start.step_in_epoch == 0) return;
  if (start.trained.empty()) {
    const std::size_t old_batch = config.global_batch(static_cast<int>(start.world_size));
    start.trained = rows_trained_by_step(
        train_count, old_batch, static_cast<int>(start.world_size), config.seed,
        static_cast<std::uint64_t>(start.epoch), static_cast<std::size_t>(start.step_in_epoch));
    log << "note: " << path << " (format_version " << start.format_version
        << ") records only its step; the digits it had trained are those of its schedule ("
        << start.world_size << " ranks, global batch " << old_batch << ")\n";
  }
  require(start.trained.size() == train_count, "checkpoint ", path, ": its progress covers ",
          start.trained.size(), " training digits but ", train_count,
          " are trained now (data file or train.validation_size changed); resume with the same"
          " data, or from a checkpoint written at the end of an epoch");
  if (start.world_size != size) {
    const auto done = std::ranges::count_if(start.trained, [](std::uint8_t t) { return t != 0; });
    log << "note: it was written by " << start.world_size << " ranks and resumes on " << size
        << ": the rest of epoch " << start.epoch + 1 << " trains the " << train_count - done
        << " digits not yet seen (each once), global batch " << config.global_batch(size)
        << " (was " << config.global_batch(static_cast<int>(start.world_size))
        << "); the weights will not match an uninterrupted run bitwise\n";
  }
}

// The checkpoint to resume from: --resume PATH, or for --resume auto the
// newest valid one in the run directory, chosen on rank 0 and broadcast. An
// empty directory starts fresh; checkpoints that are there but none of which
// loads stop every rank with an error, and stay where they are.
std::string choose_resume_path(const Comm& comm, const TrainArgs& args, std::ostream& log) {
  if (args.resume != "auto") return args.resume;
  std::string path, problem;
  if (comm.rank() == 0) {
    const std::size_t files = run_checkpoint_files(args.out_dir).size();
    if (auto found = find_newest_checkpoint(args.out_dir, log)) {
      path = found->path;
    } else if (files > 0) {
      problem =
          concat("--resume auto: none of the ", files, " checkpoint file(s) in ", args.out_dir,
                 " can be used (the reasons are above); they are left as they are. Repair"
                 " or move them, resume from one with --resume PATH, or run without --resume"
                 " to start over (that moves them to ",
                 args.out_dir, "/earlier-<date-time>/)");
    } else {
      log << "--resume auto: no checkpoint in " << args.out_dir << "; starting fresh\n";
    }
  }
  log.flush();  // the reasons, before an error may end the job
  comm.broadcast(path);
  stop_all_if(comm, problem);
  return path;
}

// visits [training rows], summed over ranks at an epoch's end: every digit
// trained exactly once, or every rank stops alike naming the first that was not.
void require_each_row_once(std::span<const std::int64_t> visits, std::size_t epoch) {
  const auto wrong = std::ranges::find_if(visits, [](std::int64_t v) { return v != 1; });
  const auto missed = std::ranges::count(visits, 0);
  require(wrong == visits.end(), "epoch ", epoch + 1, ": training digit (row) ",
          wrong - visits.begin(), " was trained ", wrong == visits.end() ? 0 : *wrong,
          " times, expected once; ", missed, " of ", visits.size(),
          " digits were not trained at all this epoch");
}

// visits summed over ranks at a stop mid-epoch: the checkpoint's progress.
std::vector<std::uint8_t> trained_rows(std::span<const std::int64_t> visits, std::size_t epoch) {
  std::vector<std::uint8_t> trained(visits.size());
  for (std::size_t i = 0; i < visits.size(); ++i) {
    require(visits[i] <= 1, "epoch ", epoch + 1, ": training digit (row) ", i, " was trained ",
            visits[i], " times before the stop, expected at most once");
    trained[i] = visits[i] > 0 ? 1 : 0;
  }
  return trained;
}

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f s", seconds);
  return text;
}

}  // namespace

StepResult data_parallel_step(Network& net, DistributedAdam& optimizer, std::span<const float> x,
                              std::span<const std::uint8_t> labels, std::size_t batch,
                              std::size_t global_batch, const StepOptions& options,
                              StepSeconds& seconds) {
  require(global_batch > 0, "data_parallel_step: empty global batch");
  Clock::time_point start = Clock::now();
  net.zero_grads();
  StepResult result;
  std::span<const float> logits = net.forward_train(x, batch, options.dropout_seed);
  // The scale makes the summed gradients the mean over the global batch,
  // however unevenly its samples fall on ranks.
  const float scale = 1.0f / static_cast<float>(global_batch);
  std::span<float> dlogits = net.logits_grad(batch);
  result.loss = softmax_cross_entropy(logits, labels, batch, net.output_size(), scale, dlogits,
                                      options.label_smoothing);
  seconds.forward += seconds_since(start);
  start = Clock::now();
  std::span<float> reduced = net.grads_and_control();
  reduced.back() = options.stop_requested ? 1.0f : 0.0f;
  if (options.overlap_chunks > 0) {
    net.backward(x, dlogits, batch, options.overlap_chunks,
                 [&](std::size_t begin, std::size_t end) {
                   optimizer.start_sum(reduced.subspan(begin, end - begin));
                   optimizer.progress();
                 });
  } else {
    net.backward(x, dlogits, batch);
  }
  seconds.backward += seconds_since(start);
  SyncSeconds sync;
  result.stop = optimizer.step(net.params(), reduced, sync, net.first_layer_factors());
  seconds.backward += sync.gradient;  // the first kernel's gradient, formed from factors
  seconds.comm += sync.comm;
  seconds.optimizer += sync.optimizer;
  if (options.max_norm > 0) {
    start = Clock::now();
    net.apply_max_norm(options.max_norm);
    seconds.optimizer += seconds_since(start);
  }
  return result;
}

TrainResult run_training(const Comm& comm, const TrainArgs& args, std::ostream& log) {
  const TrainConfig& config = args.config;
  const bool leader = comm.rank() == 0;
  // Before OpenBLAS's workers restart, so they take the same mode.
  set_flush_denormals(config.flush_denormals);
  blas_set_threads(config.blas_threads);
  require_working_launcher(comm);

  // Validate before any data collective: a rank with another configuration
  // (a different file on another node) must fail here, on every rank alike.
  const std::string config_text = config.to_text();
  require(comm.agree(std::hash<std::string>{}(config_text)), "rank ", comm.rank(), " on ",
          comm.host(), ": the ranks parsed different configurations; this rank has:\n",
          config_text);
  // The run directory, checked by rank 0 before any data is read; every rank
  // stops alike if it cannot be used.
  stop_all_if(comm, leader ? cannot_use_directory(args.out_dir) : "");

  const auto load_start = Clock::now();
  Shards data = load_shards(comm, args.data_path, config.validation_size);
  const std::size_t global_batch = config.global_batch(comm.size());
  const std::size_t local_batch = shard_range(global_batch, comm.rank(), comm.size()).size();
  const std::size_t steps = steps_per_epoch(data.train_count, global_batch, comm.size());

  Network net(config.widths(), std::max({local_batch, config.eval_batch, std::size_t{1}}));
  net.set_dropout(config.dropout, config.input_dropout);
  net.set_sparse_input(config.sparse_input_max_density);
  require(comm.agree(net.params().size()), "rank ", comm.rank(),
          ": the ranks built networks of different sizes (", net.params().size(), " parameters)");
  const int ranks_per_node = ranks_per_node_override();
  require(comm.agree(static_cast<std::uint64_t>(ranks_per_node)), "rank ", comm.rank(),
          ": DPMNIST_RANKS_PER_NODE differs between ranks (this rank: ", ranks_per_node, ")");
  // Under shm with the sparse input, the first kernel's gradient travels as
  // its factors (the batch's nonzeros and the layer's output gradient).
  const bool use_factors =
      config.gradient_factors != "false" && config.sparse_input_max_density > 0;
  const FactorShape factors = use_factors
                                  ? FactorShape{config.widths()[0], config.widths()[1],
                                                (global_batch + comm.size() - 1) / comm.size()}
                                  : FactorShape{};
  // auto: where they read fewer bytes from peers, for batches up to the
  // sparse path's density (the densest it takes).
  const double auto_density =
      config.gradient_factors == "auto" ? config.sparse_input_max_density : 0.0;
  DistributedAdam adam(comm, net.params().size(), config.adam,
                       parse_gradient_sync(config.gradient_sync), ranks_per_node, factors,
                       auto_density);
  if (std::span<float> shared = adam.gradient_buffer(); !shared.empty()) {
    net.bind_gradients(shared);
  }
  net.set_first_kernel_grad_as_factors(adam.takes_factors());
  StepOptions step_options;
  step_options.overlap_chunks = config.overlap ? config.overlap_chunks : 0;
  step_options.label_smoothing = config.label_smoothing;
  step_options.max_norm = config.max_norm;

  TrainResult result;
  Checkpoint start;  // where this run begins: epoch 0 step 0, or a checkpoint's position
  const std::string resume_path = choose_resume_path(comm, args, log);
  if (!resume_path.empty()) {
    start = load_checkpoint(resume_path);
    require(start.widths == config.widths(), "checkpoint ", resume_path,
            ": its layer widths differ from the configuration's model.hidden");
    std::ranges::copy(start.params, net.params().begin());
    adam.restore(start.adam_m, start.adam_v, start.adam_step);
    result.history = start.history;
    if (leader) {
      log << "resumed from " << resume_path << " (epoch " << start.epoch << ", step "
          << start.step_in_epoch << " of the next, global step " << start.global_step << ")\n";
    }
    std::ostringstream notes;
    check_resume_progress(start, config, data.train_count, resume_path, comm.size(), notes);
    if (leader) log << notes.str();
  } else {
    std::string problem;
    if (leader) {
      net.init_glorot(derive_seed({config.seed, 0x1417}));
      try {
        if (const std::string aside = set_aside_run_checkpoints(args.out_dir); !aside.empty()) {
          log << "starting fresh in " << args.out_dir << ": moved the checkpoints of an earlier"
              << " run there to " << aside << " (--resume auto would have continued it)\n";
        }
      } catch (const Error& e) {
        problem = e.what();
      }
    }
    stop_all_if(comm, problem);  // if they could not be moved
    comm.broadcast(net.params());
  }
  require(comm.agree(hash_floats(net.params())), "rank ", comm.rank(),
          ": initial weights differ between ranks after broadcast/resume");

  if (leader) {
    std::string model;
    for (std::size_t w : config.widths()) model += (model.empty() ? "" : "-") + std::to_string(w);
    log << "dpmnist-train: " << comm.size() << " rank(s), data " << args.data_path << " ("
        << data.train_count << " train / " << config.validation_size << " validation / "
        << data.info.test_count << " test, split " << data.info.split << "), loaded in "
        << format_seconds(seconds_since(load_start)) << "\n"
        << "  model " << model << " (" << net.params().size() << " parameters), Adam lr "
        << config.learning_rate(comm.size()) << " (" << config.lr_scaling
        << " scaling), global batch " << global_batch << " (" << local_batch << " on rank 0), "
        << steps << " steps/epoch, epochs " << start.epoch + 1 << ".." << config.epochs << "\n"
        << "  gradients: " << gradient_sync_name(adam.sync()) << ", first layer "
        << (config.sparse_input_max_density > 0
                ? "sparse-input kernels (dense sgemm above " +
                      std::to_string(static_cast<int>(config.sparse_input_max_density * 100)) +
                      "% nonzero)"
                : std::string("dense sgemm"))
        << (adam.takes_factors() ? ", its weight gradient summed from factors x^T dy"
            : auto_density > 0 && adam.sync() == GradientSync::kShm && comm.size() > 1
                ? ", its weight gradient summed whole (factors would read more from node peers)"
                : "")
        << "\n"
        << "  runtime: " << runtime_description() << "\n";
    if (parse_gradient_sync(config.gradient_sync) != adam.sync()) {
      log << "note: train.gradient_sync = " << config.gradient_sync
          << " needs the same number of ranks on every node; they differ, so "
          << gradient_sync_name(adam.sync()) << " runs instead\n";
    }
    log << std::flush;
  }

  RowTrace trace(comm.rank());
  std::vector<float> x(net.max_batch() * kImagePixels);
  std::vector<std::uint8_t> labels(net.max_batch());
  const std::int64_t nan_step = fault_setting("NAN_AT_STEP");
  // As if a stop signal reached every rank during this global step.
  const std::int64_t stop_step = fault_setting("STOP_AT_STEP");
  std::int64_t global_step = start.global_step;
  float current_lr = config.learning_rate_at(comm.size(), static_cast<double>(start.epoch));
  // The best validation accuracy so far (resumed runs take it from their history).
  double best_val_acc = -1;
  for (const EpochMetrics& m : start.history) {
    if (config.validation_size > 0) best_val_acc = std::max(best_val_acc, m.val_acc);
  }

  // Called by every rank (gathering sharded moments is collective); only rank
  // 0's copy is filled. The finiteness check keeps a diverged model from ever
  // replacing the last good checkpoint, and fails on every rank alike.
  auto capture = [&](std::int64_t epochs_done, std::int64_t step_in_epoch,
                     const std::array<double, 3>& epoch_sums,
                     std::vector<std::uint8_t> trained) {
    require(std::ranges::all_of(net.params(), [](float w) { return std::isfinite(w); }),
            "weights are not finite after global step ", global_step,
            "; not writing a checkpoint (the last one stays as it was)");
    Checkpoint c;
    adam.full_moments(c.adam_m, c.adam_v);
    if (!leader) return c;
    c.widths = net.widths();
    c.params.assign(net.params().begin(), net.params().end());
    c.adam_step = adam.step_count();
    c.epoch = epochs_done;
    c.step_in_epoch = step_in_epoch;
    c.epoch_sums = epoch_sums;
    c.trained = std::move(trained);
    c.global_step = global_step;
    c.world_size = comm.size();
    c.seed = static_cast<std::int64_t>(config.seed);
    c.config_text = config_text;
    c.history = result.history;
    return c;
  };
  auto write_checkpoint = [&](std::int64_t epochs_done, std::int64_t step_in_epoch,
                              const std::array<double, 3>& epoch_sums,
                              std::vector<std::uint8_t> trained) -> std::string {
    const Checkpoint c = capture(epochs_done, step_in_epoch, epoch_sums, std::move(trained));
    if (!leader) return {};
    const std::int64_t crash_epoch = fault_setting("CRASH_IN_CHECKPOINT");
    return save_run_checkpoint(args.out_dir, c, config.keep_checkpoints, [&] {
      if (crash_epoch == epochs_done && step_in_epoch == 0) std::raise(SIGKILL);
    });
  };

  for (auto epoch = static_cast<std::size_t>(start.epoch); epoch < config.epochs; ++epoch) {
    // The order depends only on (seed, epoch, rank) and the digits a resumed
    // epoch had trained: on the same ranks, exactly the uninterrupted batches;
    // on others, each digit not yet seen, once.
    const bool resumed_epoch = static_cast<std::int64_t>(epoch) == start.epoch;
    const std::span<const std::uint8_t> trained_before =
        resumed_epoch ? std::span<const std::uint8_t>(start.trained) : std::span<const std::uint8_t>();
    const EpochPlan plan = plan_epoch(data.train_count, global_batch, comm.rank(), comm.size(),
                                      config.seed, epoch, trained_before);
    const std::size_t first_step =
        resumed_epoch ? static_cast<std::size_t>(start.step_in_epoch) : 0;
    const std::size_t epoch_steps = first_step + plan.steps;
    // loss sum, correct, samples; and each training row's visits this epoch.
    // Rank 0 carries the part of a resumed epoch that ran before the stop.
    std::array<double, 3> sums{};
    std::vector<std::int64_t> visits(data.train_count, 0);
    if (resumed_epoch && leader) {
      sums = start.epoch_sums;
      std::ranges::copy(start.trained, visits.begin());
    }
    StepSeconds seconds;
    const auto epoch_start = Clock::now();
    auto last_progress = epoch_start;
    std::size_t stopped_after = 0;
    for (std::size_t k = 0; k < plan.steps; ++k) {
      const std::size_t step = first_step + k;
      const auto data_start = Clock::now();
      const std::span<const std::uint32_t> rows = plan.rows_at(k);
      const std::size_t B = rows.size();
      for (std::uint32_t row : rows) ++visits[plan.shard.begin + row];
      trace.record(epoch, global_step, plan.shard.begin, rows);
      // Per-step seeds from (seed, global step, rank): a resumed run draws the
      // same augmentations and dropout masks.
      const std::uint64_t step_seed =
          derive_seed({config.seed, static_cast<std::uint64_t>(global_step),
                       static_cast<std::uint64_t>(comm.rank())});
      if (config.augment.enabled()) {
        Rng augment_rng(derive_seed({step_seed, 0xA6}));
        gather_batch_augmented(data.train, rows, x, labels, config.augment, augment_rng);
      } else {
        gather_batch(data.train, rows, x, labels);
      }
      if (global_step == nan_step && leader && B > 0)
        x[0] = std::numeric_limits<float>::quiet_NaN();
      seconds.data += seconds_since(data_start);
      const std::size_t global_B = plan.global_batch_at(k);
      current_lr = config.learning_rate_at(
          comm.size(), static_cast<double>(epoch) +
                           static_cast<double>(step) / static_cast<double>(epoch_steps));
      adam.set_learning_rate(current_lr);
      step_options.stop_requested = stop_signal_received() != 0 || global_step == stop_step;
      step_options.dropout_seed = derive_seed({step_seed, 0xD0});
      const StepResult r =
          data_parallel_step(net, adam, x, labels, B, global_B, step_options, seconds);
      sums[0] += r.loss.loss;
      sums[1] += static_cast<double>(r.loss.correct);
      sums[2] += static_cast<double>(B);
      ++global_step;
      if (r.stop) {
        stopped_after = step + 1;
        break;
      }
      if (leader && config.progress_seconds > 0 &&
          seconds_since(last_progress) >= config.progress_seconds) {
        last_progress = Clock::now();
        log << "  epoch " << epoch + 1 << "/" << config.epochs << "  step " << step + 1 << "/"
            << epoch_steps << "  rank-0 loss " << (sums[2] > 0 ? sums[0] / sums[2] : 0.0) << "  "
            << format_seconds(seconds_since(epoch_start)) << "\n"
            << std::flush;
      }
    }
    if (stopped_after > 0) {
      // Every rank saw the stop at the same step, so this sum is collective-safe.
      comm.allreduce_sum(sums);
      comm.allreduce_sum(visits);
      const std::string path =
          write_checkpoint(static_cast<std::int64_t>(epoch), static_cast<std::int64_t>(stopped_after),
                           sums, trained_rows(visits, epoch));
      if (leader) {
        log << "stopped by a signal at epoch " << epoch + 1 << " step " << stopped_after << "/"
            << epoch_steps << "; wrote " << path << "; continue with --resume auto\n"
            << std::flush;
      }
      result.stopped = true;
      result.params.assign(net.params().begin(), net.params().end());
      return result;
    }
    const double train_seconds = seconds_since(epoch_start);

    const auto eval_start = Clock::now();
    EvalSums test = evaluate_digits(net, data.test, x, labels);
    EvalSums validation = evaluate_digits(net, data.validation, x, labels);
    const double eval_seconds = seconds_since(eval_start);

    // One sum for the statistics, one allgather for every rank's timings.
    std::vector<double> totals(test.values.begin(), test.values.end());
    totals.insert(totals.end(), validation.values.begin(), validation.values.end());
    totals.insert(totals.end(), sums.begin(), sums.end());
    comm.allreduce_sum(totals);
    std::copy_n(totals.begin(), EvalSums::kSize, test.values.begin());
    std::copy_n(totals.begin() + EvalSums::kSize, EvalSums::kSize, validation.values.begin());
    const double* train_sums = totals.data() + 2 * EvalSums::kSize;
    const std::array<double, kNumPhases + 1> mine = {
        seconds.data,      seconds.forward, seconds.backward, seconds.comm,
        seconds.optimizer, eval_seconds,    train_seconds};
    std::vector<double> every_rank(mine.size() * static_cast<std::size_t>(comm.size()));
    comm.allgather(mine, every_rank);
    // column c of every_rank over ranks
    auto over_ranks = [&](auto value_of_rank) {
      std::vector<double> values;
      for (int r = 0; r < comm.size(); ++r)
        values.push_back(value_of_rank(&every_rank[r * mine.size()]));
      return spread_of(values);
    };
    require(comm.agree(hash_floats(net.params())), "rank ", comm.rank(), " on ", comm.host(),
            ": weights differ between ranks after epoch ", epoch + 1,
            " (non-deterministic BLAS or a corrupted allreduce); stopping");
    const double train_count = train_sums[2];
    comm.allreduce_sum(visits);
    require_each_row_once(visits, epoch);

    EpochMetrics m;
    m.epoch = static_cast<std::int64_t>(epoch + 1);
    m.train_loss = train_sums[0] / train_count;
    m.train_acc = train_sums[1] / train_count;
    m.test_loss = test.mean_loss();
    m.test_acc = test.accuracy();
    const bool validating = config.validation_size > 0;
    m.val_loss = validating ? validation.mean_loss() : std::numeric_limits<double>::quiet_NaN();
    m.val_acc = validating ? validation.accuracy() : std::numeric_limits<double>::quiet_NaN();
    m.global_batch = static_cast<std::int64_t>(global_batch);
    m.steps_per_epoch = static_cast<std::int64_t>(steps);
    for (std::size_t p = 0; p < kNumPhases; ++p) {
      m.phases[p] = over_ranks([p](const double* t) { return t[p]; });
    }
    m.epoch_seconds = over_ranks([](const double* t) { return t[kNumPhases]; }).max;
    m.data_seconds = m.phases[0].max;
    m.compute_seconds = over_ranks([](const double* t) { return t[1] + t[2] + t[4]; }).max;
    m.comm_seconds = m.phases[3].max;
    m.eval_seconds = m.phases[5].max;
    m.samples_per_second =
        static_cast<double>(std::accumulate(plan.left.begin(), plan.left.end(), std::size_t{0})) /
        m.epoch_seconds;
    m.learning_rate = current_lr;
    m.world_size = comm.size();
    require(std::isfinite(m.train_loss) && std::isfinite(m.test_loss), "epoch ", epoch + 1,
            ": loss is not finite (train ", m.train_loss, ", test ", m.test_loss,
            "); lower optimizer.learning_rate. The last checkpoint was not overwritten.");
    result.history.push_back(m);

    if (leader) {
      char line[320];
      char val[64] = "";
      if (validating) std::snprintf(val, sizeof(val), " | val acc %.4f", m.val_acc);
      std::snprintf(line, sizeof(line),
                    "epoch %lld/%zu  train loss %.4f acc %.4f%s | test loss %.4f acc %.4f | "
                    "%.2f s (compute %.2f, comm %.2f, data %.2f) eval %.2f s, %.0f samples/s\n",
                    static_cast<long long>(m.epoch), config.epochs, m.train_loss, m.train_acc, val,
                    m.test_loss, m.test_acc, m.epoch_seconds, m.compute_seconds, m.comm_seconds,
                    m.data_seconds, m.eval_seconds, m.samples_per_second);
      log << line << std::flush;
      write_metrics_csv(args.out_dir + "/metrics.csv", result.history);
    }
    if ((epoch + 1) % config.checkpoint_every == 0 || epoch + 1 == config.epochs) {
      write_checkpoint(m.epoch, 0, {}, {});
    }
    // Model selection on the validation digits only, never the test set.
    if (validating && m.val_acc > best_val_acc) {
      best_val_acc = m.val_acc;
      const Checkpoint best = capture(m.epoch, 0, {}, {});
      if (leader) save_checkpoint(args.out_dir + "/best.h5", best);
    }
  }
  if (leader && result.history.size() > static_cast<std::size_t>(start.epoch)) {
    // Epoch 1 pays for first touches of memory and BLAS buffers: leave it out when there are more.
    const auto first = static_cast<std::size_t>(start.epoch);
    print_phase_summary(result.history, result.history.size() - first > 1 ? first + 1 : first, log);
  }
  result.params.assign(net.params().begin(), net.params().end());
  return result;
}

void print_phase_summary(const std::vector<EpochMetrics>& history, std::size_t first_epoch,
                         std::ostream& log) {
  if (first_epoch >= history.size()) return;
  const double n = static_cast<double>(history.size() - first_epoch);
  char line[160];
  std::snprintf(line, sizeof(line),
                "seconds per epoch by phase over %lld rank(s), mean of epochs %zu..%zu:\n"
                "  %-10s %9s %9s %9s\n",
                static_cast<long long>(history.back().world_size), first_epoch + 1, history.size(),
                "phase", "min", "median", "max");
  log << line;
  for (std::size_t p = 0; p < kNumPhases; ++p) {
    Spread mean;
    for (std::size_t e = first_epoch; e < history.size(); ++e) {
      mean.min += history[e].phases[p].min / n;
      mean.median += history[e].phases[p].median / n;
      mean.max += history[e].phases[p].max / n;
    }
    std::snprintf(line, sizeof(line), "  %-10s %9.4f %9.4f %9.4f\n", kPhaseNames[p], mean.min,
                  mean.median, mean.max);
    log << line;
  }
  log << std::flush;
}

}  // namespace dpmnist
