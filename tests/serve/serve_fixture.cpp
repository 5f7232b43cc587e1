#include "serve_fixture.h"

// json_parser pulls in boost/bind.hpp, which asks for this to stay quiet.
#define BOOST_BIND_GLOBAL_PLACEHOLDERS
#include <boost/property_tree/json_parser.hpp>
#include <filesystem>
#include <sstream>

#include "support/fixtures.h"

namespace dpmnist::test {

boost::property_tree::ptree parse_json(const std::string& text) {
  std::istringstream in(text);
  boost::property_tree::ptree tree;
  boost::property_tree::read_json(in, tree);
  return tree;
}

std::vector<double> numbers_of(const boost::property_tree::ptree& array) {
  std::vector<double> out;
  for (const auto& [key, child] : array) out.push_back(child.get_value<double>());
  return out;
}

std::string ServeTest::dir_;
std::unique_ptr<Predictor> ServeTest::predictor_;
std::unique_ptr<serve::Server> ServeTest::server_;
std::thread ServeTest::thread_;
int ServeTest::port_ = 0;

httplib::Client client() {
  httplib::Client c("127.0.0.1", ServeTest::port());
  c.set_read_timeout(20, 0);
  c.set_write_timeout(20, 0);
  c.set_tcp_nodelay(true);
  return c;
}

serve::ServerOptions ServeTest::options() {
  serve::ServerOptions o;
  o.port = 0;
  o.threads = 12;
  o.max_body_bytes = std::size_t{2} << 20;
  o.max_pixels = 4'000'000;
  return o;
}

void ServeTest::SetUpTestSuite() {
  dir_ = make_temp_dir("serve");
  predictor_ = std::make_unique<Predictor>(write_glorot_checkpoint(dir_, {784, 32, 10}));
  server_ = std::make_unique<serve::Server>(*predictor_, options());
  port_ = server_->bind();
  thread_ = std::thread([] { server_->run(); });
}

void ServeTest::TearDownTestSuite() {
  server_->stop();
  thread_.join();
  server_.reset();
  predictor_.reset();
  std::filesystem::remove_all(dir_);
}

}  // namespace dpmnist::test
