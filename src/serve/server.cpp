#include "dpmnist/serve/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

#include "dpmnist/core/error.h"
#include "dpmnist/core/json.h"
#include "dpmnist/core/stopwatch.h"
#include "dpmnist/serve/api.h"
#include "dpmnist/serve/assets.h"

namespace dpmnist::serve {

namespace {

constexpr const char* kJson = "application/json";
// The page loads nothing from elsewhere; the policy makes the browser hold it to that.
constexpr const char* kPagePolicy =
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'";

struct Route {
  const char* path;
  const char* allow;
};
constexpr Route kApiRoutes[] = {
    {"/api/predict", "POST"},
    {"/api/model", "GET, HEAD"},
    {"/healthz", "GET, HEAD"},
};

void send(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(reply.body, kJson);
}

// "Image/PNG; charset=x" -> "image/png"
std::string media_type(const std::string& header) {
  std::string type = header.substr(0, header.find(';'));
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  type.erase(type.begin(), std::find_if_not(type.begin(), type.end(), space));
  type.erase(std::find_if_not(type.rbegin(), type.rend(), space).base(), type.end());
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type;
}

std::string megabytes(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

std::span<const std::uint8_t> as_bytes(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

bool is_chunked(const httplib::Request& req) {
  return media_type(req.get_header_value("Transfer-Encoding")).find("chunked") != std::string::npos;
}

// An upload as read for POST /api/predict: the whole body, or for
// multipart/form-data the "image" field and the names of all fields.
struct Upload {
  std::string bytes;
  std::vector<std::string> fields;
  bool has_image = false;
  bool too_large = false;  // reading stopped at the limit
};

// Reads the body through httplib's ContentReader, stopping as soon as more
// than max_bytes have come (sized and chunked bodies alike: httplib alone
// would buffer a chunked body whole).
Upload read_upload(const httplib::Request& req, const httplib::ContentReader& reader,
                   std::size_t max_bytes) {
  Upload upload;
  // One buffer of its final size (the declared length, or the limit for a
  // chunked body), not a doubling string: a worker holds at most the limit.
  const std::string declared = req.get_header_value("Content-Length");
  upload.bytes.reserve(
      declared.empty()
          ? max_bytes
          : std::min<std::uint64_t>(std::strtoull(declared.c_str(), nullptr, 10), max_bytes));
  std::size_t total = 0;
  bool in_image = false;
  const auto receive = [&](const char* data, std::size_t length) {
    total += length;
    if (total > max_bytes) {
      upload.too_large = true;
      return false;
    }
    if (in_image || !req.is_multipart_form_data()) upload.bytes.append(data, length);
    return true;
  };
  if (req.is_multipart_form_data()) {
    reader(
        [&](const httplib::MultipartFormData& part) {
          upload.fields.push_back(part.name);
          in_image = part.name == "image" && !upload.has_image;
          upload.has_image = upload.has_image || in_image;
          return true;
        },
        receive);
  } else {
    reader(receive);
  }
  return upload;
}

}  // namespace

struct Server::Impl {
  Impl(const Predictor& p, ServerOptions o) : predictor(p), options(std::move(o)) {}

  void set_up();
  void handle_predict(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader) const;
  httplib::Server::HandlerResponse refuse_unread_body(const httplib::Request& req,
                                                      httplib::Response& res) const;
  void refuse_too_large(httplib::Response& res, const std::string& message) const;
  void handle_other(const httplib::Request& req, httplib::Response& res) const;
  std::string error_message(const httplib::Request& req, int status) const;
  const char* allowed_methods(const std::string& path) const;

  const Predictor& predictor;
  ServerOptions options;
  ImageLimits limits;
  httplib::Server http;
  Stopwatch started;
  std::atomic<std::uint64_t> requests{0}, client_errors{0}, server_errors{0};
};

const char* Server::Impl::allowed_methods(const std::string& path) const {
  for (const Route& route : kApiRoutes) {
    if (path == route.path) return route.allow;
  }
  return find_asset(path, "") ? "GET, HEAD" : nullptr;
}

void Server::Impl::handle_predict(const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) const {
  const std::string type = media_type(req.get_header_value("Content-Type"));
  const Upload upload = read_upload(req, reader, options.max_body_bytes);
  if (upload.too_large) {
    refuse_too_large(res, "request body larger than the limit of " +
                              megabytes(options.max_body_bytes) + " (stopped reading there)");
    return;
  }
  if (req.is_multipart_form_data()) {
    if (!upload.has_image) {
      std::string fields;
      for (const std::string& name : upload.fields) fields += (fields.empty() ? "" : ", ") + name;
      send(res, error_reply(400,
                            "multipart/form-data upload without a field named \"image\" "
                            "(fields sent: " +
                                (fields.empty() ? "none" : fields) + ")"));
      return;
    }
    send(res, predict_reply(predictor, as_bytes(upload.bytes), limits));
    return;
  }
  if (type.rfind("image/", 0) != 0) {
    send(res, error_reply(415, (type.empty() ? std::string("no Content-Type")
                                             : "Content-Type " + type + " is not accepted") +
                                   ": send the image bytes with an image/* type (image/png, "
                                   "image/jpeg, ...) or multipart/form-data with field \"image\""));
    return;
  }
  send(res, predict_reply(predictor, as_bytes(upload.bytes), limits));
}

// A 413 on a connection whose body was not read to its end: the connection
// is closed after the reply, so the rest of the body is never read.
void Server::Impl::refuse_too_large(httplib::Response& res, const std::string& message) const {
  send(res, error_reply(413, message));
  res.set_header("Connection", "close");
}

// Before routing, so before httplib reads any body: a declared length over
// the limit gets its 413 at once (httplib would first read and discard it all),
// and a chunked body anywhere but POST /api/predict (which reads it within
// the limit) gets 411: httplib would buffer it whole.
httplib::Server::HandlerResponse Server::Impl::refuse_unread_body(const httplib::Request& req,
                                                                  httplib::Response& res) const {
  const std::string length = req.get_header_value("Content-Length");
  if (!length.empty()) {
    const std::uint64_t declared = std::strtoull(length.c_str(), nullptr, 10);
    if (declared > options.max_body_bytes) {
      refuse_too_large(res, "request body of " + megabytes(declared) +
                                " (Content-Length) is larger than the limit of " +
                                megabytes(options.max_body_bytes));
      return httplib::Server::HandlerResponse::Handled;
    }
  }
  if (is_chunked(req) && !(req.method == "POST" && req.path == "/api/predict")) {
    send(res, error_reply(411,
                          "a chunked request body is accepted only by POST /api/predict; "
                          "send this one with a Content-Length"));
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

void Server::Impl::handle_other(const httplib::Request& req, httplib::Response& res) const {
  const char* allow = allowed_methods(req.path);
  if (!allow) {
    send(res, error_reply(404, error_message(req, 404)));
    return;
  }
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (get && std::strcmp(allow, "GET, HEAD") == 0) {
    if (std::optional<LoadedAsset> asset = find_asset(req.path, options.web_dir)) {
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      if (asset->content_type.rfind("text/html", 0) == 0) {
        res.set_header("Content-Security-Policy", kPagePolicy);
      }
      res.set_content(asset->bytes, asset->content_type);
      return;
    }
  }
  if (req.method == "OPTIONS") {
    res.status = 204;
    res.set_header("Allow", std::string(allow) + ", OPTIONS");
    return;
  }
  res.set_header("Allow", allow);
  send(res, error_reply(405, error_message(req, 405)));
}

std::string Server::Impl::error_message(const httplib::Request& req, int status) const {
  switch (status) {
    case 400:
      if (media_type(req.get_header_value("Content-Type")) == "multipart/form-data") {
        return "malformed multipart/form-data body: expected a boundary parameter and parts "
               "with a Content-Disposition name (field \"image\")";
      }
      return "malformed HTTP request";
    case 404:
      return "no such resource: " + req.method + " " + req.path +
             " (the API is POST /api/predict, GET /api/model, GET /healthz; the page is GET /)";
    case 405: {
      const char* allow = allowed_methods(req.path);
      return "method " + req.method + " is not allowed on " + req.path +
             " (allowed: " + (allow ? allow : "none") + ")";
    }
    case 413:
      if (media_type(req.get_header_value("Content-Type")) == "application/x-www-form-urlencoded") {
        return "a form-urlencoded body is limited to 8 KB: send the image with Content-Type "
               "image/png (or another image/* type) or as multipart/form-data";
      }
      return "request body larger than the limit of " + megabytes(options.max_body_bytes);
    case 414:
      return "request URI too long";
    case 416:
      return "range not satisfiable";
    case 500:
      return "internal server error";
    default:
      return "HTTP status " + std::to_string(status);
  }
}

void Server::Impl::set_up() {
  limits.max_bytes = options.max_body_bytes;
  limits.max_pixels = options.max_pixels;
  limits.max_side = options.max_side;
  const std::size_t threads = std::max<std::size_t>(1, options.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_keep_alive_max_count(100000);
  http.set_keep_alive_timeout(options.keep_alive_seconds);
  http.set_read_timeout(options.read_timeout_seconds, 0);
  http.set_write_timeout(options.read_timeout_seconds, 0);
  http.set_tcp_nodelay(true);  // small JSON replies must not wait for Nagle
  // httplib's default is SO_REUSEPORT, with which a second server on the same
  // port binds too and the kernel splits connections between them. REUSEADDR
  // alone still allows a restart while old connections sit in TIME_WAIT.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    send(res, {200, json_text({{"status", "ok"},
                               {"uptime_seconds", started.seconds()},
                               {"requests", requests.load()},
                               {"threads", options.threads}})});
  });
  http.Get("/api/model", [this](const httplib::Request&, httplib::Response& res) {
    send(res, {200, model_json(predictor.info())});
  });
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return refuse_unread_body(req, res);
  });
  http.Post("/api/predict",
            [this](const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) { handle_predict(req, res, reader); });
  // Everything else, after httplib has read any body: the page's files, 405
  // for a known path with another method, 404 JSON for the rest.
  const auto other = [this](const httplib::Request& req, httplib::Response& res) {
    handle_other(req, res);
  };
  http.Get(".*", other);
  http.Post(".*", other);
  http.Put(".*", other);
  http.Patch(".*", other);
  http.Delete(".*", other);
  http.Options(".*", other);

  // Errors httplib answers itself (malformed request, 413, unknown method)
  // and any handler's status >= 400 without a body: a JSON message.
  const httplib::Server::HandlerWithResponse on_error = [this](const httplib::Request& req,
                                                               httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    send(res, error_reply(res.status, error_message(req, res.status)));
    return httplib::Server::HandlerResponse::Handled;
  };
  http.set_error_handler(on_error);
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send(res, error_reply(500, "internal error: " + what));
      });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    requests.fetch_add(1, std::memory_order_relaxed);
    if (res.status >= 500)
      server_errors.fetch_add(1, std::memory_order_relaxed);
    else if (res.status >= 400)
      client_errors.fetch_add(1, std::memory_order_relaxed);
    if (options.log_requests) {
      std::fprintf(stderr, "%s %s %s %d %zu bytes\n", req.remote_addr.c_str(), req.method.c_str(),
                   req.path.c_str(), res.status, res.body.size());
    }
  });
}

Server::Server(const Predictor& predictor, ServerOptions options)
    : impl_(std::make_unique<Impl>(predictor, std::move(options))) {
  impl_->set_up();
}

Server::~Server() {
  stop();
}

int Server::bind() {
  const ServerOptions& o = impl_->options;
  errno = 0;
  int port = o.port;
  bool ok = false;
  if (o.port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    ok = port > 0;
  } else {
    ok = impl_->http.bind_to_port(o.host, o.port);
  }
  const int error = errno;
  require(ok, "cannot listen on ", o.host, ":", o.port, ": ",
          error ? std::strerror(error) : "address not available",
          " (another server on that port? pick one with --port, 0 for any free port)");
  return port;
}

void Server::run() {
  impl_->http.listen_after_bind();
}

void Server::stop() {
  impl_->http.stop();
}

ServerCounts Server::counts() const {
  return {impl_->requests.load(), impl_->client_errors.load(), impl_->server_errors.load()};
}

const ServerOptions& Server::options() const {
  return impl_->options;
}

ImageLimits Server::image_limits() const {
  return impl_->limits;
}

}  // namespace dpmnist::serve
