// dpmnist-train: parse, wire up, catch. All numerics live in the library.
#include <iostream>

#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/parallel/comm.h"
#include "dpmnist/train/config.h"
#include "dpmnist/train/stop_signal.h"
#include "dpmnist/train/trainer.h"

int main(int argc, char** argv) {
  // First, so a preemption warning that arrives during start-up is not fatal
  // (across a re-exec below it stays pending, and this runs again first).
  dpmnist::install_stop_handlers();
  // May re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  if (const std::string problem = dpmnist::launcher_problem(); !problem.empty()) {
    std::cerr << "error: " << problem << std::endl;
    return 1;
  }
  dpmnist::MpiSession session(&argc, &argv);
  const dpmnist::Comm comm;
  try {
    const dpmnist::TrainArgs args = dpmnist::parse_train_args(argc, argv);
    if (args.help) {
      if (comm.rank() == 0) std::cout << args.usage;
      return 0;
    }
    const dpmnist::TrainResult result = dpmnist::run_training(comm, args, std::cout);
    if (result.stopped) return dpmnist::kExitStopped;
    if (comm.rank() == 0 && !result.history.empty()) {
      const dpmnist::EpochMetrics& last = result.history.back();
      std::cout << "done: test accuracy " << last.test_acc << ", wrote " << args.out_dir
                << "/metrics.csv and " << args.out_dir << "/checkpoint.h5\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "[rank " << comm.rank() << " on " << comm.host() << "] error: " << e.what()
              << std::endl;
    // With other ranks alive, returning would leave them waiting in a collective.
    if (comm.size() > 1) comm.abort(1);
    return 1;
  }
}
