// dpmnist-serve's HTTP server: the page (GET /), the JSON API (POST
// /api/predict, GET /api/model, GET /healthz), request limits, and 4xx JSON
// errors for every bad request, so no input can stop it. cpp-httplib stays
// behind this header; the image work is api.h's, the numbers predictor.h's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dpmnist/predict/image.h"
#include "dpmnist/predict/predictor.h"

namespace dpmnist::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port (bind() says which)
  // Worker threads: requests served at once. A keep-alive connection holds a
  // worker until it closes or idles for keep_alive_seconds; more connections wait.
  std::size_t threads = 8;
  std::size_t max_body_bytes = std::size_t{8} << 20;  // larger bodies get 413
  std::size_t max_pixels = 16'000'000;                // width * height of an upload
  std::size_t max_side = 16384;                       // width and height, each
  int keep_alive_seconds = 2;    // also the longest stop() waits for an idle connection
  int read_timeout_seconds = 5;  // a client that stops sending mid-request is dropped
  std::string web_dir;           // empty: the page embedded at build time
  bool log_requests = false;     // one line per request on stderr
};

struct ServerCounts {
  std::uint64_t requests = 0;       // answered, any status
  std::uint64_t client_errors = 0;  // 4xx
  std::uint64_t server_errors = 0;  // 5xx
};

class Server {
 public:
  // predictor must outlive the server; it is shared by every worker thread.
  Server(const Predictor& predictor, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds options.host:options.port and returns the port; throws Error naming
  // the address and the reason when it cannot (port in use, bad host).
  int bind();
  // Serves until stop() (bind() first). Returns after the workers have
  // finished the requests they were serving.
  void run();
  // From any thread: stop accepting and make run() return.
  void stop();

  ServerCounts counts() const;
  const ServerOptions& options() const;
  ImageLimits image_limits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpmnist::serve
