// dpmnist-serve: the drawing page and the JSON prediction API over a trained
// checkpoint. Parses options, loads the model, serves until SIGINT/SIGTERM.
#include <malloc.h>
#include <signal.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/predict/predictor.h"
#include "dpmnist/serve/server.h"
#include "dpmnist/train/options.h"

namespace po = boost::program_options;
using namespace dpmnist;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void remember_stop_signal(int signal_number) {
  g_stop_signal = signal_number;
}

// SIGINT/SIGTERM only set a flag (threads that libraries start before main,
// OpenBLAS's among them, cannot all be made to block them); this thread polls
// the flag and stops the server. Returns when the server is done either way.
class SignalStopper {
 public:
  explicit SignalStopper(serve::Server& server) : thread_([this, &server] { wait(server); }) {}
  ~SignalStopper() {
    done_ = true;
    thread_.join();
  }

 private:
  void wait(serve::Server& server) {
    while (!done_) {
      if (g_stop_signal != 0) {
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The command line: ServerOptions and the checkpoint, or an exit code (0
// after --help, 2 on a bad option, with the reason printed).
struct Parsed {
  std::string checkpoint_path;
  serve::ServerOptions options;
  std::size_t max_body_mb = 8;
  int exit_code = -1;  // >= 0: exit now
};

Parsed parse_options(int argc, char** argv) {
  Parsed p;
  serve::ServerOptions& options = p.options;
  po::options_description described("dpmnist-serve options");
  // clang-format off
  described.add_options()
      ("help,h", "print this help")
      ("checkpoint", po::value(&p.checkpoint_path)->required(), "trained checkpoint (.h5)")
      ("host", po::value(&options.host)->default_value(options.host),
       "address to listen on (0.0.0.0: every interface)")
      ("web-dir", po::value(&options.web_dir),
       "serve the page from this directory (index.html, app.js, style.css) instead of the "
       "copy built into the binary; for working on the page")
      ("log-requests", po::bool_switch(&options.log_requests), "one line per request on stderr");
  // clang-format on
  add_number(described, "port", &options.port, between(0, 65535), "TCP port; 0: any free port");
  add_number(described, "threads", &options.threads, between<std::size_t>(1, 1024),
             "worker threads = requests served at once (each keep-alive connection holds one)");
  add_number(described, "max-body-mb", &p.max_body_mb, between<std::size_t>(1, 1024),
             "largest request body in MB (larger: 413)");
  add_number(described, "max-pixels", &options.max_pixels,
             between<std::size_t>(1, std::size_t{1} << 30),
             "largest image, width x height (larger: 400)");
  add_number(described, "keep-alive", &options.keep_alive_seconds, between(1, 3600),
             "seconds an idle keep-alive connection keeps its worker");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, described), vm);
    if (vm.count("help")) {
      std::cout << "usage: dpmnist-serve --checkpoint runs/seed/checkpoint.h5 [--port 8080]\n"
                << described;
      p.exit_code = 0;
      return p;
    }
    po::notify(vm);
    options.max_body_bytes = p.max_body_mb << 20;
  } catch (const std::exception& e) {
    std::cerr << "dpmnist-serve: " << e.what() << "\n(see dpmnist-serve --help)\n";
    p.exit_code = 2;
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  // Upload buffers (up to --max-body-mb each) are mapped and unmapped on
  // their own: a fixed threshold stops glibc from raising it after the first
  // free and keeping freed buffers in per-thread heaps, so the memory a burst
  // of large uploads used goes back to the system.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  struct sigaction action {};
  action.sa_handler = remember_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A client that hangs up mid-reply must not end the process.
  signal(SIGPIPE, SIG_IGN);

  Parsed parsed = parse_options(argc, argv);
  if (parsed.exit_code >= 0) return parsed.exit_code;
  const std::string& checkpoint_path = parsed.checkpoint_path;
  const serve::ServerOptions& options = parsed.options;
  const std::size_t max_body_mb = parsed.max_body_mb;

  try {
    const Predictor predictor(checkpoint_path);
    const ModelInfo& info = predictor.info();
    serve::Server server(predictor, options);
    const int port = server.bind();
    std::printf("dpmnist-serve: model %s (%zu parameters, epoch %lld", info.architecture().c_str(),
                info.parameters, static_cast<long long>(info.epoch));
    if (info.test_accuracy) std::printf(", test accuracy %.4f", *info.test_accuracy);
    std::printf(") from %s\n", checkpoint_path.c_str());
    std::printf(
        "dpmnist-serve: listening on http://%s:%d/ (%zu threads, body limit %zu MB, "
        "pixel limit %zu); stop with Ctrl-C\n",
        options.host.c_str(), port, options.threads, max_body_mb, options.max_pixels);
    std::fflush(stdout);
    {
      SignalStopper stopper(server);
      server.run();
    }
    const int stopped_by = g_stop_signal;
    const serve::ServerCounts counts = server.counts();
    std::printf("dpmnist-serve: stopped%s; %llu requests answered (%llu 4xx, %llu 5xx)\n",
                stopped_by == SIGINT    ? " by SIGINT"
                : stopped_by == SIGTERM ? " by SIGTERM"
                                        : "",
                static_cast<unsigned long long>(counts.requests),
                static_cast<unsigned long long>(counts.client_errors),
                static_cast<unsigned long long>(counts.server_errors));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dpmnist-serve: error: %s\n", e.what());
    return 1;
  }
}
