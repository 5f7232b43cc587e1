// dpmnist-serve-load: concurrent keep-alive clients POSTing one image to
// dpmnist-serve's /api/predict for a fixed time (or request count), then
// throughput, latency percentiles and errors. A non-200 reply, a transport
// failure or an answer that differs from the first one counts as an error.
// Exit status 0 only when there were no errors.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

// The answer's "digit" field, or "" when absent: cheap agreement check.
std::string digit_of(const std::string& body) {
  const std::size_t at = body.find("\"digit\":");
  if (at == std::string::npos) return "";
  const std::size_t end = body.find_first_of(",}", at);
  return body.substr(at, end - at);
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", image_path, content_type = "image/png";
  int port = 8080;
  std::size_t connections = 8, max_requests = 0;
  double seconds = 10;
  po::options_description described("dpmnist-serve-load options");
  described.add_options()("help,h", "print this help")(
      "host", po::value(&host)->default_value(host), "server address")(
      "port", po::value(&port)->default_value(port), "server port")(
      "image", po::value(&image_path)->required(), "file to POST to /api/predict")(
      "content-type", po::value(&content_type)->default_value(content_type), "its media type")(
      "connections,c", po::value(&connections)->default_value(connections),
      "concurrent keep-alive clients (at most the server's --threads)")(
      "seconds,d", po::value(&seconds)->default_value(seconds), "how long to send")(
      "requests,n", po::value(&max_requests)->default_value(0), "stop after this many; 0: no cap");
  std::string image;
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, described), vm);
    if (vm.count("help")) {
      std::cout << described;
      return 0;
    }
    po::notify(vm);
    if (connections < 1 || connections > 1024) throw std::runtime_error("--connections: 1..1024");
    if (!(seconds > 0 && seconds <= 3600)) throw std::runtime_error("--seconds: (0, 3600]");
    std::ifstream in(image_path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + image_path);
    image.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    std::cerr << "dpmnist-serve-load: " << e.what() << "\n";
    return 2;
  }

  // One request first: the answer every later one must agree with.
  std::string expected;
  {
    httplib::Client probe(host, port);
    probe.set_tcp_nodelay(true);
    const auto res = probe.Post("/api/predict", image, content_type);
    if (!res || res->status != 200) {
      std::cerr << "dpmnist-serve-load: the first request failed: "
                << (res ? std::to_string(res->status) + " " + res->body
                        : httplib::to_string(res.error()))
                << "\n";
      return 1;
    }
    expected = digit_of(res->body);
  }

  std::atomic<std::size_t> issued{0}, errors{0}, transport{0}, statuses{0}, disagreements{0};
  std::mutex merge;
  std::vector<double> latencies;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      httplib::Client client(host, port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);  // as browsers do: no Nagle wait between headers and body
      client.set_read_timeout(30, 0);
      std::vector<double> mine;
      while (Clock::now() < deadline) {
        if (max_requests && issued.fetch_add(1) >= max_requests) break;
        const Clock::time_point sent = Clock::now();
        const auto res = client.Post("/api/predict", image, content_type);
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        if (!res) {
          ++transport, ++errors;
        } else if (res->status != 200) {
          ++statuses, ++errors;
        } else if (digit_of(res->body) != expected) {
          ++disagreements, ++errors;
        }
      }
      const std::lock_guard<std::mutex> lock(merge);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());

  std::printf("dpmnist-serve-load: %zu connections for %.1f s, POST %s (%zu bytes, %s) to %s:%d\n",
              connections, elapsed, image_path.c_str(), image.size(), content_type.c_str(),
              host.c_str(), port);
  std::printf("  requests %zu, errors %zu (transport %zu, non-200 %zu, other answer %zu)\n",
              latencies.size(), errors.load(), transport.load(), statuses.load(),
              disagreements.load());
  std::printf("  throughput %.1f requests/s\n", static_cast<double>(latencies.size()) / elapsed);
  std::printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", percentile(latencies, 0.50),
              percentile(latencies, 0.90), percentile(latencies, 0.99),
              latencies.empty() ? 0.0 : latencies.back());
  std::printf("RESULT connections=%zu requests=%zu errors=%zu rps=%.1f p50_ms=%.3f p99_ms=%.3f\n",
              connections, latencies.size(), errors.load(),
              static_cast<double>(latencies.size()) / elapsed, percentile(latencies, 0.50),
              percentile(latencies, 0.99));
  return errors.load() == 0 && !latencies.empty() ? 0 : 1;
}
