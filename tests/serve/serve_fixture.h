// One dpmnist-serve Server per test suite on an ephemeral loopback port, over
// a Glorot checkpoint the suite writes (serve_support.h), and JSON parsing of
// its replies (Boost.PropertyTree: the tests read JSON, the server never does).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <boost/property_tree/ptree.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dpmnist/predict/predictor.h"
#include "dpmnist/serve/server.h"
#include "serve_support.h"

namespace dpmnist::test {

boost::property_tree::ptree parse_json(const std::string& text);
// A JSON array of numbers (probabilities) as a vector.
std::vector<double> numbers_of(const boost::property_tree::ptree& array);

// One server for a whole test suite.
class ServeTest : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

  static int port() { return port_; }
  static const Predictor& predictor() { return *predictor_; }
  static const serve::Server& server() { return *server_; }
  static serve::ServerOptions options();

 private:
  static std::string dir_;
  static std::unique_ptr<Predictor> predictor_;
  static std::unique_ptr<serve::Server> server_;
  static std::thread thread_;
  static int port_;
};

// A client of the suite's server, with generous timeouts for a loaded machine.
httplib::Client client();

}  // namespace dpmnist::test
