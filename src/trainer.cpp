#include "dpmnist/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>

#include "dpmnist/batch.h"
#include "dpmnist/blas.h"
#include "dpmnist/checkpoint.h"
#include "dpmnist/dataset.h"
#include "dpmnist/error.h"
#include "dpmnist/evaluate.h"
#include "dpmnist/hdf5_file.h"
#include "dpmnist/rng.h"
#include "dpmnist/shard.h"

namespace dpmnist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Training shard and test shard of this rank, read collectively.
struct Shards {
  DataInfo info;
  Range train_rows, test_rows;
  Digits train, test;
};

Shards load_shards(const Comm& comm, const std::string& path) {
  require(std::filesystem::exists(path), "rank ", comm.rank(), " on ", comm.host(), ": data file ",
          path, " does not exist; make it with data/fetch_mnist.sh && build/bin/dpmnist-prepare",
          " --raw data/raw --out ", path);
  H5File file = H5File::open_read_parallel(path, comm.raw());
  Shards s;
  s.info = inspect_dataset(file);
  require(comm.agree(s.info.fingerprint), "rank ", comm.rank(), " on ", comm.host(),
          ": the ranks opened different data files at ", path,
          " (fingerprints differ); every node must see the same file");
  s.train_rows = shard_range(s.info.train_count, comm.rank(), comm.size());
  s.test_rows = shard_range(s.info.test_count, comm.rank(), comm.size());
  s.train = read_digits(file, "train", s.train_rows);
  s.test = read_digits(file, "test", s.test_rows);
  return s;
}

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f s", seconds);
  return text;
}

}  // namespace

LossSum data_parallel_step(const Comm& comm, Network& net, Adam& adam, std::span<const float> x,
                           std::span<const std::uint8_t> labels, std::size_t batch,
                           std::size_t global_batch, StepSeconds& seconds) {
  require(global_batch > 0, "data_parallel_step: empty global batch");
  Clock::time_point start = Clock::now();
  net.zero_grads();
  LossSum loss;
  if (batch > 0) {
    std::span<const float> logits = net.forward(x, batch);
    // The scale makes the summed gradients the mean over the global batch,
    // however unevenly its samples fall on ranks.
    const float scale = 1.0f / static_cast<float>(global_batch);
    std::span<float> dlogits = net.logits_grad(batch);
    loss = softmax_cross_entropy(logits, labels, batch, net.output_size(), scale, dlogits);
    net.backward(x, dlogits, batch);
  }
  seconds.compute += seconds_since(start);

  start = Clock::now();
  // Every rank joins, even with an empty batch: no rank waits alone.
  comm.allreduce_sum(net.grads());
  seconds.comm += seconds_since(start);

  start = Clock::now();
  adam.step(net.params(), net.grads());
  seconds.optimizer += seconds_since(start);
  return loss;
}

TrainResult run_training(const Comm& comm, const TrainArgs& args, std::ostream& log) {
  const TrainConfig& config = args.config;
  const bool leader = comm.rank() == 0;
  blas_set_threads(config.blas_threads);

  // Validate before any data collective: a rank with another configuration
  // (a different file on another node) must fail here, on every rank alike.
  const std::string config_text = config.to_text();
  require(comm.agree(std::hash<std::string>{}(config_text)), "rank ", comm.rank(), " on ",
          comm.host(), ": the ranks parsed different configurations; this rank has:\n",
          config_text);
  if (leader) std::filesystem::create_directories(args.out_dir);

  const auto load_start = Clock::now();
  Shards data = load_shards(comm, args.data_path);
  const std::size_t global_batch = config.global_batch(comm.size());
  const std::size_t local_batch = shard_range(global_batch, comm.rank(), comm.size()).size();
  const std::size_t steps = steps_per_epoch(data.info.train_count, global_batch, comm.size());
  const float learning_rate = config.learning_rate(comm.size());

  Network net(config.widths(), std::max({local_batch, config.eval_batch, std::size_t{1}}));
  Adam adam(net.params().size(), config.adam);
  adam.set_learning_rate(learning_rate);
  require(comm.agree(net.params().size()), "rank ", comm.rank(),
          ": the ranks built networks of different sizes (", net.params().size(), " parameters)");

  TrainResult result;
  std::int64_t first_epoch = 0, global_step = 0;
  if (!args.resume.empty()) {
    Checkpoint checkpoint = load_checkpoint(args.resume);
    require(checkpoint.widths == config.widths(), "checkpoint ", args.resume,
            ": its layer widths differ from the configuration's model.hidden");
    std::ranges::copy(checkpoint.params, net.params().begin());
    adam.restore(checkpoint.adam_m, checkpoint.adam_v, checkpoint.adam_step);
    first_epoch = checkpoint.epoch;
    global_step = checkpoint.global_step;
    result.history = std::move(checkpoint.history);
    if (leader && checkpoint.world_size != comm.size()) {
      log << "note: " << args.resume << " was written by " << checkpoint.world_size
          << " ranks and resumes on " << comm.size()
          << "; training continues but will not match an uninterrupted run bitwise\n";
    }
  } else {
    if (leader) net.init_glorot(derive_seed({config.seed, 0x1417}));
    comm.broadcast(net.params());
  }
  require(comm.agree(hash_floats(net.params())), "rank ", comm.rank(),
          ": initial weights differ between ranks after broadcast/resume");

  if (leader) {
    log << "dpmnist-train: " << comm.size() << " rank(s), data " << args.data_path << " ("
        << data.info.train_count << " train / " << data.info.test_count << " test, split "
        << data.info.split << "), loaded in " << format_seconds(seconds_since(load_start)) << "\n"
        << "  model " << [&] {
             std::string text;
             for (std::size_t w : config.widths()) text += (text.empty() ? "" : "-") + std::to_string(w);
             return text;
           }() << " (" << net.params().size() << " parameters), Adam lr " << learning_rate
        << " (" << config.lr_scaling << " scaling), global batch " << global_batch << " ("
        << local_batch << " on rank 0), " << steps << " steps/epoch, epochs " << first_epoch + 1
        << ".." << config.epochs << "\n";
  }

  const std::size_t shard_size = data.train.size();
  std::vector<std::uint32_t> order(shard_size);
  std::vector<float> x(net.max_batch() * kImagePixels);
  std::vector<std::uint8_t> labels(net.max_batch());

  for (auto epoch = static_cast<std::size_t>(first_epoch); epoch < config.epochs; ++epoch) {
    // The order depends only on (seed, epoch, rank), so a resumed run
    // replays exactly the batches of an uninterrupted one.
    std::iota(order.begin(), order.end(), 0u);
    Rng rng(derive_seed({config.seed, epoch, static_cast<std::uint64_t>(comm.rank())}));
    shuffle(std::span(order), rng);

    StepSeconds seconds;
    double loss_sum = 0, correct = 0, seen = 0;
    const auto epoch_start = Clock::now();
    auto last_progress = epoch_start;
    for (std::size_t step = 0; step < steps; ++step) {
      const auto data_start = Clock::now();
      const std::size_t B = batch_at_step(data.info.train_count, global_batch, comm.rank(),
                                          comm.size(), step);
      gather_batch(data.train, std::span(order).subspan(std::min(step * local_batch, shard_size), B),
                   x, labels);
      seconds.data += seconds_since(data_start);
      const std::size_t global_B =
          global_batch_at_step(data.info.train_count, global_batch, comm.size(), step);
      const LossSum loss = data_parallel_step(comm, net, adam, x, labels, B, global_B, seconds);
      loss_sum += loss.loss;
      correct += static_cast<double>(loss.correct);
      seen += static_cast<double>(B);
      ++global_step;
      if (leader && config.progress_seconds > 0 &&
          seconds_since(last_progress) >= config.progress_seconds) {
        last_progress = Clock::now();
        log << "  epoch " << epoch + 1 << "/" << config.epochs << "  step " << step + 1 << "/"
            << steps << "  rank-0 loss " << (seen > 0 ? loss_sum / seen : 0.0) << "  "
            << format_seconds(seconds_since(epoch_start)) << "\n"
            << std::flush;
      }
    }
    const double train_seconds = seconds_since(epoch_start);

    const auto eval_start = Clock::now();
    EvalSums test = evaluate_digits(net, data.test, x, labels);
    const double eval_seconds = seconds_since(eval_start);

    // One sum for the statistics, one max for the timings.
    std::vector<double> sums(test.values.begin(), test.values.end());
    sums.insert(sums.end(), {loss_sum, correct, seen});
    comm.allreduce_sum(sums);
    std::copy_n(sums.begin(), EvalSums::kSize, test.values.begin());
    std::vector<double> times = {train_seconds, seconds.data, seconds.compute + seconds.optimizer,
                                 seconds.comm, eval_seconds};
    comm.allreduce_max(times);
    require(comm.agree(hash_floats(net.params())), "rank ", comm.rank(), " on ", comm.host(),
            ": weights differ between ranks after epoch ", epoch + 1,
            " (non-deterministic BLAS or a corrupted allreduce); stopping");

    EpochMetrics m;
    m.epoch = static_cast<std::int64_t>(epoch + 1);
    const double train_count = sums[EvalSums::kSize + 2];
    m.train_loss = sums[EvalSums::kSize] / train_count;
    m.train_acc = sums[EvalSums::kSize + 1] / train_count;
    m.test_loss = test.mean_loss();
    m.test_acc = test.accuracy();
    m.epoch_seconds = times[0];
    m.data_seconds = times[1];
    m.compute_seconds = times[2];
    m.comm_seconds = times[3];
    m.eval_seconds = times[4];
    m.samples_per_second = train_count / times[0];
    m.learning_rate = learning_rate;
    m.world_size = comm.size();
    require(std::isfinite(m.train_loss) && std::isfinite(m.test_loss), "epoch ", epoch + 1,
            ": loss is not finite (train ", m.train_loss, ", test ", m.test_loss,
            "); lower optimizer.learning_rate. The last checkpoint was not overwritten.");
    result.history.push_back(m);

    if (leader) {
      char line[256];
      std::snprintf(line, sizeof(line),
                    "epoch %lld/%zu  train loss %.4f acc %.4f | test loss %.4f acc %.4f | "
                    "%.2f s (compute %.2f, comm %.2f, data %.2f) eval %.2f s, %.0f samples/s\n",
                    static_cast<long long>(m.epoch), config.epochs, m.train_loss, m.train_acc,
                    m.test_loss, m.test_acc, m.epoch_seconds, m.compute_seconds, m.comm_seconds,
                    m.data_seconds, m.eval_seconds, m.samples_per_second);
      log << line << std::flush;
      write_metrics_csv(args.out_dir + "/metrics.csv", result.history);
      if ((epoch + 1) % config.checkpoint_every == 0 || epoch + 1 == config.epochs) {
        Checkpoint checkpoint;
        checkpoint.widths = net.widths();
        checkpoint.params.assign(net.params().begin(), net.params().end());
        checkpoint.adam_m.assign(adam.first_moment().begin(), adam.first_moment().end());
        checkpoint.adam_v.assign(adam.second_moment().begin(), adam.second_moment().end());
        checkpoint.adam_step = adam.step_count();
        checkpoint.epoch = m.epoch;
        checkpoint.global_step = global_step;
        checkpoint.world_size = comm.size();
        checkpoint.seed = static_cast<std::int64_t>(config.seed);
        checkpoint.config_text = config_text;
        checkpoint.history = result.history;
        save_checkpoint(args.out_dir + "/checkpoint.h5", checkpoint);
      }
    }
  }
  result.params.assign(net.params().begin(), net.params().end());
  return result;
}

}  // namespace dpmnist
