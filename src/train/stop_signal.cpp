#include "dpmnist/train/stop_signal.h"

#include <csignal>

#include "dpmnist/core/error.h"

namespace dpmnist {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal_number) {
  g_stop_signal = signal_number;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a signal arriving inside MPI or file I/O must not fail the call.
  action.sa_flags = SA_RESTART;
  require(sigaction(SIGUSR1, &action, nullptr) == 0 && sigaction(SIGTERM, &action, nullptr) == 0,
          "cannot install the SIGUSR1/SIGTERM handlers");
}

int stop_signal_received() {
  return g_stop_signal;
}

void reset_stop_signal() {
  g_stop_signal = 0;
}

}  // namespace dpmnist
