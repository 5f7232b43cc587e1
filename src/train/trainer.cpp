#include "dpmnist/train/trainer.h"

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

#include "dpmnist/core/blas.h"
#include "dpmnist/core/error.h"
#include "dpmnist/core/hash.h"
#include "dpmnist/core/number.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/core/shard.h"
#include "dpmnist/core/stopwatch.h"
#include "dpmnist/data/batch.h"
#include "dpmnist/data/checkpoint.h"
#include "dpmnist/data/dataset.h"
#include "dpmnist/data/hdf5_file.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/train/epoch_plan.h"
#include "dpmnist/train/evaluate.h"
#include "dpmnist/train/stop_signal.h"

namespace dpmnist {
namespace {

// Rank 0's problem (empty: none) reaches every rank, and every rank throws it
// alike: no rank goes on to a collective the others will not reach.
void stop_all_if(const Comm& comm, std::string problem) {
  comm.broadcast(problem);
  require(problem.empty(), problem);
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
void check_resume_progress(Checkpoint& start, const TrainConfig& config, std::size_t train_count,
                           const std::string& path, int size, std::ostream& log) {
  if (start.step_in_epoch == 0) return;
  if (start.trained.empty()) {
    const std::size_t old_batch = config.global_batch(static_cast<int>(start.world_size));
    start.trained = rows_trained_by_step(train_count, old_batch, static_cast<int>(start.world_size),
                                         config.seed, static_cast<std::uint64_t>(start.epoch),
                                         static_cast<std::size_t>(start.step_in_epoch));
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

// "epoch 3/5  train loss ... | test loss ... acc ... | 0.12 s (compute ...) ..."
void print_epoch_line(const EpochMetrics& m, const TrainConfig& config, std::ostream& log) {
  char line[320];
  char val[64] = "";
  if (config.validation_size > 0) std::snprintf(val, sizeof(val), " | val acc %.4f", m.val_acc);
  std::snprintf(line, sizeof(line),
                "epoch %lld/%zu  train loss %.4f acc %.4f%s | test loss %.4f acc %.4f | "
                "%.2f s (compute %.2f, comm %.2f, data %.2f) eval %.2f s, %.0f samples/s\n",
                static_cast<long long>(m.epoch), config.epochs, m.train_loss, m.train_acc, val,
                m.test_loss, m.test_acc, m.epoch_seconds, m.compute_seconds, m.comm_seconds,
                m.data_seconds, m.eval_seconds, m.samples_per_second);
  log << line << std::flush;
}

}  // namespace

StepResult data_parallel_step(Network& net, DistributedAdam& optimizer, std::span<const float> x,
                              std::span<const std::uint8_t> labels, std::size_t batch,
                              std::size_t global_batch, const StepOptions& options,
                              StepSeconds& seconds) {
  require(global_batch > 0, "data_parallel_step: empty global batch");
  Stopwatch start;
  const auto first = optimizer.takes_factors() ? Network::FirstKernelGrad::kFactors
                                               : Network::FirstKernelGrad::kAccumulate;
  net.zero_grads(first);
  StepResult result;
  std::span<const float> logits = net.forward_train(x, batch, options.dropout_seed);
  // The scale makes the summed gradients the mean over the global batch,
  // however unevenly its samples fall on ranks.
  const float scale = 1.0f / static_cast<float>(global_batch);
  std::span<float> dlogits = net.logits_grad(batch);
  result.loss = softmax_cross_entropy(logits, labels, batch, net.output_size(), scale, dlogits,
                                      options.label_smoothing);
  seconds.forward += start.seconds();
  start.restart();
  std::span<float> reduced = net.grads_and_control();
  reduced.back() = options.stop_requested ? 1.0f : 0.0f;
  const GradientFactors factors = net.backward(x, dlogits, batch, first);
  seconds.backward += start.seconds();
  SyncSeconds sync;
  result.stop = optimizer.step(net.params(), reduced, sync, factors);
  seconds.backward += sync.gradient;  // the first kernel's gradient, formed from factors
  seconds.comm += sync.comm;
  seconds.optimizer += sync.optimizer;
  if (options.max_norm > 0) {
    start.restart();
    net.apply_max_norm(options.max_norm);
    seconds.optimizer += start.seconds();
  }
  return result;
}

FactorShape first_layer_factors(const Comm& comm, const TrainConfig& config,
                                std::size_t global_batch) {
  if (config.gradient_factors == FactorMode::kOff || config.sparse_input_max_density <= 0)
    return {};
  const std::vector<std::size_t> widths = config.widths();
  return {widths[0], widths[1], (global_batch + comm.size() - 1) / comm.size()};
}

TrainingModel::TrainingModel(const Comm& comm, const TrainConfig& config, std::size_t global_batch,
                             std::size_t max_batch, int ranks_per_node)
    : net(config.widths(), max_batch),
      // auto: factors where they read fewer bytes from peers, for batches up
      // to the sparse path's density (the densest it takes).
      adam(comm, net.params().size(), config.adam, config.gradient_sync, ranks_per_node,
           first_layer_factors(comm, config, global_batch),
           config.gradient_factors == FactorMode::kAuto ? config.sparse_input_max_density : 0.0),
      requested_sync_(config.gradient_sync),
      auto_factors_(config.gradient_factors == FactorMode::kAuto &&
                    config.sparse_input_max_density > 0),
      sparse_density_(config.sparse_input_max_density),
      world_size_(comm.size()) {
  net.set_dropout(config.dropout, config.input_dropout);
  net.set_sparse_input(config.sparse_input_max_density);
  net.bind_gradients(adam.gradient_buffer());
  step_options.label_smoothing = config.label_smoothing;
  step_options.max_norm = config.max_norm;
}

std::string TrainingModel::describe_gradients() const {
  std::string text = concat("gradients: ", gradient_sync_name(adam.sync()), ", first layer ");
  text += sparse_density_ > 0 ? concat("sparse-input kernels (dense sgemm above ",
                                       static_cast<int>(sparse_density_ * 100), "% nonzero)")
                              : std::string("dense sgemm");
  if (adam.takes_factors()) {
    text += ", its weight gradient summed from factors x^T dy";
  } else if (auto_factors_ && adam.sync() == GradientSync::kShm && world_size_ > 1) {
    text += ", its weight gradient summed whole (factors would read more from node peers)";
  }
  return text;
}

std::string TrainingModel::fallback_note() const {
  if (requested_sync_ == adam.sync()) return "";
  return concat("note: train.gradient_sync = ", gradient_sync_name(requested_sync_),
                " needs the same number of ranks on every node; they differ, so ",
                gradient_sync_name(adam.sync()), " runs instead\n");
}

namespace {

// Loss sum, correct answers and samples over an epoch's steps.
struct EpochSums {
  double loss = 0, correct = 0, samples = 0;
  std::array<double, 3> as_array() const { return {loss, correct, samples}; }
  static EpochSums of(const std::array<double, 3>& v) { return {v[0], v[1], v[2]}; }
};

// Where a run begins, and what it is: the configuration every rank agreed on,
// this rank's data, the batch sizes, and the checkpoint it continues (epoch 0
// step 0 when fresh).
struct RunStart {
  std::string config_text;
  Shards data;
  std::size_t global_batch = 0, local_batch = 0, steps = 0;
  double load_seconds = 0;
  Checkpoint checkpoint;
};

// One pass over an epoch's plan on this rank.
struct EpochRun {
  EpochSums sums;                    // this rank's (rank 0 adds the part before a resume)
  std::vector<std::int64_t> visits;  // [training rows] this rank's visits (rank 0: and before)
  StepSeconds seconds;
  double train_seconds = 0;
  std::size_t steps = 0;          // the epoch's steps, counting those before a resume
  std::size_t samples = 0;        // samples all ranks train in this pass
  std::size_t stopped_after = 0;  // > 0: a stop signal ended the epoch after this step
  float learning_rate = 0;        // at the last step
};

// Checks, before any data is read, that every rank parsed the same
// configuration and rank 0 can use the run directory; then loads the shards.
RunStart begin_run(const Comm& comm, const TrainArgs& args) {
  const TrainConfig& config = args.config;
  // Before OpenBLAS's workers restart, so they take the same mode.
  set_flush_denormals(config.flush_denormals);
  blas_set_threads(config.blas_threads);
  require_working_launcher(comm);
  RunStart run;
  run.config_text = config.to_text();
  require(comm.agree(std::hash<std::string>{}(run.config_text)), "rank ", comm.rank(), " on ",
          comm.host(), ": the ranks parsed different configurations; this rank has:\n",
          run.config_text);
  stop_all_if(comm, comm.rank() == 0 ? cannot_use_directory(args.out_dir) : "");
  Stopwatch load_start;
  run.data = load_shards(comm, args.data_path, config.validation_size);
  run.load_seconds = load_start.seconds();
  run.global_batch = config.global_batch(comm.size());
  run.local_batch = shard_range(run.global_batch, comm.rank(), comm.size()).size();
  run.steps = steps_per_epoch(run.data.train_count, run.global_batch, comm.size());
  return run;
}

// The weights and Adam state to start from: a checkpoint's (--resume), or
// Glorot from rank 0 broadcast to all, after moving an earlier run's
// checkpoints aside. Every rank ends with the same weights, checked.
void resume_or_init(const Comm& comm, const TrainArgs& args, RunStart& run, TrainingModel& model,
                    std::ostream& log) {
  const bool leader = comm.rank() == 0;
  const std::string path = choose_resume_path(comm, args, log);
  if (!path.empty()) {
    run.checkpoint = load_checkpoint(path);
    require(run.checkpoint.widths == args.config.widths(), "checkpoint ", path,
            ": its layer widths differ from the configuration's model.hidden");
    std::ranges::copy(run.checkpoint.params, model.net.params().begin());
    model.adam.restore(run.checkpoint.adam_m, run.checkpoint.adam_v, run.checkpoint.adam_step);
    std::ostringstream notes;
    notes << "resumed from " << path << " (epoch " << run.checkpoint.epoch << ", step "
          << run.checkpoint.step_in_epoch << " of the next, global step "
          << run.checkpoint.global_step << ")\n";
    check_resume_progress(run.checkpoint, args.config, run.data.train_count, path, comm.size(),
                          notes);
    if (leader) log << notes.str();
  } else {
    std::string problem;
    if (leader) {
      model.net.init_glorot(derive_seed({args.config.seed, 0x1417}));
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
    comm.broadcast(model.net.params());
  }
  require(comm.agree(hash_floats(model.net.params())), "rank ", comm.rank(),
          ": initial weights differ between ranks after broadcast/resume");
}

void print_banner(const Comm& comm, const TrainArgs& args, const RunStart& run,
                  const TrainingModel& model, std::ostream& log) {
  const TrainConfig& config = args.config;
  std::string widths;
  for (std::size_t w : config.widths()) widths += (widths.empty() ? "" : "-") + std::to_string(w);
  log << "dpmnist-train: " << comm.size() << " rank(s), data " << args.data_path << " ("
      << run.data.train_count << " train / " << config.validation_size << " validation / "
      << run.data.info.test_count << " test, split " << run.data.info.split << "), loaded in "
      << format_seconds(run.load_seconds) << "\n"
      << "  model " << widths << " (" << model.net.params().size() << " parameters), Adam lr "
      << config.learning_rate(comm.size()) << " (" << name_of(config.lr_scaling) << " scaling"
      << (config.lr_ramp_epochs > 0 && config.learning_rate(comm.size()) > config.adam.learning_rate
              ? concat(" from ", config.adam.learning_rate, ", ramped in over ",
                       config.lr_ramp_epochs, " epoch(s), annealed to the last")
              : std::string())
      << "), global batch " << run.global_batch << " (" << run.local_batch << " on rank 0), "
      << run.steps << " steps/epoch, epochs " << run.checkpoint.epoch + 1 << ".." << config.epochs
      << "\n"
      << "  " << model.describe_gradients() << "\n"
      << "  runtime: " << runtime_description() << ", " << mpi_library_version() << "\n"
      << model.fallback_note() << std::flush;
}

// Where and when a run's checkpoints are written: every checkpoint_every
// epochs and after the last, at a stop, and best.h5 on a new best validation
// accuracy. Capturing is collective (sharded Adam moments are gathered), so
// every rank calls these alike; rank 0 writes.
class RunCheckpoints {
 public:
  RunCheckpoints(const Comm& comm, const TrainArgs& args, const TrainingModel& model,
                 const RunStart& run)
      : comm_(comm), args_(args), model_(model), config_text_(run.config_text) {
    for (const EpochMetrics& m : run.checkpoint.history) {
      if (args.config.validation_size > 0) best_val_acc_ = std::max(best_val_acc_, m.val_acc);
    }
  }

  // After a completed epoch whose row ends history.
  void after_epoch(const std::vector<EpochMetrics>& history, std::int64_t global_step) {
    const EpochMetrics& m = history.back();
    const auto epochs = static_cast<std::size_t>(m.epoch);
    if (epochs % args_.config.checkpoint_every == 0 || epochs == args_.config.epochs) {
      write(capture(m.epoch, 0, {}, {}, history, global_step));
    }
    // Model selection on the validation digits only, never the test set.
    if (args_.config.validation_size > 0 && m.val_acc > best_val_acc_) {
      best_val_acc_ = m.val_acc;
      const Checkpoint best = capture(m.epoch, 0, {}, {}, history, global_step);
      if (comm_.rank() == 0) save_checkpoint(args_.out_dir + "/best.h5", best);
    }
  }

  // At a stop after step `steps_taken` of epoch `epochs_done` + 1, with all
  // ranks' sums and the rows trained so far. Returns the file (rank 0).
  std::string at_stop(std::int64_t epochs_done, std::size_t steps_taken, const EpochSums& sums,
                      std::vector<std::uint8_t> trained, const std::vector<EpochMetrics>& history,
                      std::int64_t global_step) {
    return write(capture(epochs_done, static_cast<std::int64_t>(steps_taken), sums,
                         std::move(trained), history, global_step));
  }

 private:
  // The finiteness check keeps a diverged model from ever replacing the last
  // good checkpoint, and fails on every rank alike. Only rank 0's is filled.
  Checkpoint capture(std::int64_t epochs_done, std::int64_t step_in_epoch, const EpochSums& sums,
                     std::vector<std::uint8_t> trained, const std::vector<EpochMetrics>& history,
                     std::int64_t global_step) const {
    const std::span<const float> params = model_.net.params();
    require(std::ranges::all_of(params, [](float w) { return std::isfinite(w); }),
            "weights are not finite after global step ", global_step,
            "; not writing a checkpoint (the last one stays as it was)");
    Checkpoint c;
    model_.adam.full_moments(c.adam_m, c.adam_v);
    if (comm_.rank() != 0) return c;
    c.widths = model_.net.widths();
    c.params.assign(params.begin(), params.end());
    c.adam_step = model_.adam.step_count();
    c.epoch = epochs_done;
    c.step_in_epoch = step_in_epoch;
    c.epoch_sums = sums.as_array();
    c.trained = std::move(trained);
    c.global_step = global_step;
    c.world_size = comm_.size();
    c.seed = static_cast<std::int64_t>(args_.config.seed);
    c.config_text = config_text_;
    c.history = history;
    return c;
  }

  std::string write(const Checkpoint& c) const {
    if (comm_.rank() != 0) return {};
    const std::int64_t crash_epoch = fault_setting("CRASH_IN_CHECKPOINT");
    return save_run_checkpoint(args_.out_dir, c, args_.config.keep_checkpoints, [&] {
      if (crash_epoch == c.epoch && c.step_in_epoch == 0) std::raise(SIGKILL);
    });
  }

  const Comm& comm_;
  const TrainArgs& args_;
  const TrainingModel& model_;
  std::string config_text_;
  double best_val_acc_ = -1;  // the best validation accuracy so far, resumed history included
};

// The state a run carries from step to step.
struct StepState {
  std::int64_t global_step = 0;
  std::vector<float> x;              // [max batch, 784]
  std::vector<std::uint8_t> labels;  // [max batch]
  RowTrace trace;
  std::int64_t nan_step = fault_setting("NAN_AT_STEP");
  // As if a stop signal reached every rank during this global step.
  std::int64_t stop_step = fault_setting("STOP_AT_STEP");
};

// One epoch's steps on this rank, from the plan: the rows not yet trained
// this epoch (all of them, unless it is the epoch a resume lands in).
EpochRun train_epoch(const Comm& comm, const TrainConfig& config, TrainingModel& model,
                     const RunStart& run, std::size_t epoch, StepState& state, std::ostream& log) {
  const bool leader = comm.rank() == 0;
  const Checkpoint& start = run.checkpoint;
  // The order depends only on (seed, epoch, rank) and the digits a resumed
  // epoch had trained: on the same ranks, exactly the uninterrupted batches;
  // on others, each digit not yet seen, once.
  const bool resumed = static_cast<std::int64_t>(epoch) == start.epoch;
  const EpochPlan plan = plan_epoch(
      run.data.train_count, run.global_batch, comm.rank(), comm.size(), config.seed, epoch,
      resumed ? std::span<const std::uint8_t>(start.trained) : std::span<const std::uint8_t>());
  const std::size_t first_step = resumed ? static_cast<std::size_t>(start.step_in_epoch) : 0;
  EpochRun out;
  out.steps = first_step + plan.steps;
  out.visits.assign(run.data.train_count, 0);
  for (std::size_t left : plan.left) out.samples += left;
  if (resumed && leader) {
    out.sums = EpochSums::of(start.epoch_sums);
    std::ranges::copy(start.trained, out.visits.begin());
  }
  Stopwatch epoch_start;
  auto last_progress = epoch_start;
  for (std::size_t k = 0; k < plan.steps; ++k) {
    const std::size_t step = first_step + k;
    Stopwatch data_start;
    const std::span<const std::uint32_t> rows = plan.rows_at(k);
    for (std::uint32_t row : rows) ++out.visits[plan.shard.begin + row];
    state.trace.record(epoch, state.global_step, plan.shard.begin, rows);
    // Per-step seeds from (seed, global step, rank): a resumed run draws the
    // same augmentations and dropout masks.
    const std::uint64_t step_seed =
        derive_seed({config.seed, static_cast<std::uint64_t>(state.global_step),
                     static_cast<std::uint64_t>(comm.rank())});
    if (config.augment.enabled()) {
      Rng augment_rng(derive_seed({step_seed, 0xA6}));
      gather_batch_augmented(run.data.train, rows, state.x, state.labels, config.augment,
                             augment_rng);
    } else {
      gather_batch(run.data.train, rows, state.x, state.labels);
    }
    if (state.global_step == state.nan_step && leader && !rows.empty())
      state.x[0] = std::numeric_limits<float>::quiet_NaN();
    out.seconds.data += data_start.seconds();
    out.learning_rate = config.learning_rate_at(
        comm.size(),
        static_cast<double>(epoch) + static_cast<double>(step) / static_cast<double>(out.steps));
    model.adam.set_learning_rate(out.learning_rate);
    StepOptions options = model.step_options;
    options.stop_requested = stop_signal_received() != 0 || state.global_step == state.stop_step;
    options.dropout_seed = derive_seed({step_seed, 0xD0});
    const StepResult r =
        data_parallel_step(model.net, model.adam, state.x, state.labels, rows.size(),
                           plan.global_batch_at(k), options, out.seconds);
    out.sums.loss += r.loss.loss;
    out.sums.correct += static_cast<double>(r.loss.correct);
    out.sums.samples += static_cast<double>(rows.size());
    ++state.global_step;
    if (r.stop) {
      out.stopped_after = step + 1;
      break;
    }
    if (leader && config.progress_seconds > 0 &&
        last_progress.seconds() >= config.progress_seconds) {
      last_progress.restart();
      log << "  epoch " << epoch + 1 << "/" << config.epochs << "  step " << step + 1 << "/"
          << out.steps << "  rank-0 loss "
          << (out.sums.samples > 0 ? out.sums.loss / out.sums.samples : 0.0) << "  "
          << format_seconds(epoch_start.seconds()) << "\n"
          << std::flush;
    }
  }
  out.train_seconds = epoch_start.seconds();
  return out;
}

// This rank's seconds per phase (kPhaseNames order), then the epoch's training time.
constexpr std::size_t kTrainColumn = kNumPhases;
using TimingRow = std::array<double, kNumPhases + 1>;

// After an epoch's steps, collectively: evaluation, the sums over ranks, the
// check that every digit was trained once and the weights agree, and the
// epoch's metrics row (rank 0 prints it).
EpochMetrics finish_epoch(const Comm& comm, const TrainConfig& config, TrainingModel& model,
                          const RunStart& run, std::size_t epoch, EpochRun& trained,
                          StepState& state, std::ostream& log) {
  Stopwatch eval_start;
  EvalSums test = evaluate_digits(model.net, run.data.test, state.x, state.labels);
  EvalSums validation = evaluate_digits(model.net, run.data.validation, state.x, state.labels);
  const double eval_seconds = eval_start.seconds();

  // One sum for the statistics, one allgather for every rank's timings.
  std::vector<double> totals(test.values.begin(), test.values.end());
  totals.insert(totals.end(), validation.values.begin(), validation.values.end());
  const std::array<double, 3> mine = trained.sums.as_array();
  totals.insert(totals.end(), mine.begin(), mine.end());
  comm.allreduce_sum(totals);
  std::copy_n(totals.begin(), EvalSums::kSize, test.values.begin());
  std::copy_n(totals.begin() + EvalSums::kSize, EvalSums::kSize, validation.values.begin());
  const EpochSums sums =
      EpochSums::of({totals[2 * EvalSums::kSize], totals[2 * EvalSums::kSize + 1],
                     totals[2 * EvalSums::kSize + 2]});
  const StepSeconds& s = trained.seconds;
  const TimingRow row = {s.data,      s.forward,    s.backward,           s.comm,
                         s.optimizer, eval_seconds, trained.train_seconds};
  std::vector<double> every_rank(row.size() * static_cast<std::size_t>(comm.size()));
  comm.allgather(row, every_rank);
  const auto over_ranks = [&](auto value_of_row) {
    std::vector<double> values;
    for (int r = 0; r < comm.size(); ++r) {
      TimingRow t;
      std::copy_n(every_rank.begin() + static_cast<std::ptrdiff_t>(r * row.size()), row.size(),
                  t.begin());
      values.push_back(value_of_row(t));
    }
    return spread_of(values);
  };
  require(comm.agree(hash_floats(model.net.params())), "rank ", comm.rank(), " on ", comm.host(),
          ": weights differ between ranks after epoch ", epoch + 1,
          " (non-deterministic BLAS or a corrupted allreduce); stopping");
  comm.allreduce_sum(trained.visits);
  require_each_row_once(trained.visits, epoch);

  EpochMetrics m;
  m.epoch = static_cast<std::int64_t>(epoch + 1);
  m.train_loss = sums.loss / sums.samples;
  m.train_acc = sums.correct / sums.samples;
  m.test_loss = test.mean_loss();
  m.test_acc = test.accuracy();
  const bool validating = config.validation_size > 0;
  m.val_loss = validating ? validation.mean_loss() : std::numeric_limits<double>::quiet_NaN();
  m.val_acc = validating ? validation.accuracy() : std::numeric_limits<double>::quiet_NaN();
  m.global_batch = static_cast<std::int64_t>(run.global_batch);
  m.steps_per_epoch = static_cast<std::int64_t>(run.steps);
  for (std::size_t p = 0; p < kNumPhases; ++p) {
    m.phases[p] = over_ranks([p](const TimingRow& t) { return t[p]; });
  }
  m.epoch_seconds = over_ranks([](const TimingRow& t) { return t[kTrainColumn]; }).max;
  m.data_seconds = m.phases[kDataPhase].max;
  m.compute_seconds = over_ranks([](const TimingRow& t) {
                        return t[kForwardPhase] + t[kBackwardPhase] + t[kOptimizerPhase];
                      }).max;
  m.comm_seconds = m.phases[kCommPhase].max;
  m.eval_seconds = m.phases[kEvalPhase].max;
  m.samples_per_second = static_cast<double>(trained.samples) / m.epoch_seconds;
  m.learning_rate = trained.learning_rate;
  m.world_size = comm.size();
  require(std::isfinite(m.train_loss) && std::isfinite(m.test_loss), "epoch ", epoch + 1,
          ": loss is not finite (train ", m.train_loss, ", test ", m.test_loss,
          "); lower optimizer.learning_rate. The last checkpoint was not overwritten.");
  if (comm.rank() == 0) print_epoch_line(m, config, log);
  return m;
}

}  // namespace

TrainResult run_training(const Comm& comm, const TrainArgs& args, std::ostream& log) {
  const TrainConfig& config = args.config;
  RunStart run = begin_run(comm, args);
  const int ranks_per_node = ranks_per_node_override();
  require(comm.agree(static_cast<std::uint64_t>(ranks_per_node)), "rank ", comm.rank(),
          ": DPMNIST_RANKS_PER_NODE differs between ranks (this rank: ", ranks_per_node, ")");
  TrainingModel model(comm, config, run.global_batch,
                      std::max({run.local_batch, config.eval_batch, std::size_t{1}}),
                      ranks_per_node);
  require(comm.agree(model.net.params().size()), "rank ", comm.rank(),
          ": the ranks built networks of different sizes (", model.net.params().size(),
          " parameters)");
  resume_or_init(comm, args, run, model, log);
  if (comm.rank() == 0) print_banner(comm, args, run, model, log);

  TrainResult result;
  result.history = run.checkpoint.history;
  RunCheckpoints checkpoints(comm, args, model, run);
  StepState state{run.checkpoint.global_step,
                  std::vector<float>(model.net.max_batch() * kImagePixels),
                  std::vector<std::uint8_t>(model.net.max_batch()), RowTrace(comm.rank())};
  for (auto epoch = static_cast<std::size_t>(run.checkpoint.epoch); epoch < config.epochs;
       ++epoch) {
    EpochRun trained = train_epoch(comm, config, model, run, epoch, state, log);
    if (trained.stopped_after > 0) {
      // Every rank saw the stop at the same step, so these sums are collective-safe.
      std::array<double, 3> sums = trained.sums.as_array();
      comm.allreduce_sum(sums);
      comm.allreduce_sum(trained.visits);
      const std::string path = checkpoints.at_stop(
          static_cast<std::int64_t>(epoch), trained.stopped_after, EpochSums::of(sums),
          trained_rows(trained.visits, epoch), result.history, state.global_step);
      if (comm.rank() == 0) {
        log << "stopped by a signal at epoch " << epoch + 1 << " step " << trained.stopped_after
            << "/" << trained.steps << "; wrote " << path << "; continue with --resume auto\n"
            << std::flush;
      }
      result.stopped = true;
      break;
    }
    result.history.push_back(finish_epoch(comm, config, model, run, epoch, trained, state, log));
    if (comm.rank() == 0) write_metrics_csv(args.out_dir + "/metrics.csv", result.history);
    checkpoints.after_epoch(result.history, state.global_step);
  }
  const auto first = static_cast<std::size_t>(run.checkpoint.epoch);
  if (comm.rank() == 0 && !result.stopped && result.history.size() > first) {
    // Epoch 1 pays for first touches of memory and BLAS buffers: leave it out when there are more.
    print_phase_summary(result.history, result.history.size() - first > 1 ? first + 1 : first, log);
  }
  result.params.assign(model.net.params().begin(), model.net.params().end());
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
