// dpmnist-serve's API with bad requests: each gets a 4xx and a JSON
// {"error": ...} naming the problem, and the server answers /healthz after
// all of them (its last test).
#include <httplib.h>

#include <array>
#include <random>

#include "serve_fixture.h"

using namespace dpmnist;
using namespace dpmnist::test;

namespace {

class ServeErrors : public ServeTest {};

// res is a JSON error with this status whose message contains `mentions`.
void expect_error(const httplib::Result& res, int status, const std::string& mentions) {
  ASSERT_TRUE(res) << "no reply: " << httplib::to_string(res.error());
  EXPECT_EQ(res->status, status) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << res->body;
  const auto json = parse_json(res->body);
  const std::string message = json.get<std::string>("error");
  EXPECT_EQ(json.get<int>("status"), status);
  EXPECT_NE(message.find(mentions), std::string::npos)
      << "'" << message << "' lacks '" << mentions << "'";
}

TEST_F(ServeErrors, EmptyBody) {
  auto c = client();
  expect_error(c.Post("/api/predict", "", "image/png"), 400, "empty");
}

TEST_F(ServeErrors, NotAnImage) {
  auto c = client();
  expect_error(c.Post("/api/predict", "hello, this is text and not a picture", "image/png"), 400,
               "upload");
  std::string noise(5000, '\0');
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>(i * 7919 % 251);
  expect_error(c.Post("/api/predict", noise, "image/jpeg"), 400, "upload");
}

TEST_F(ServeErrors, TruncatedPng) {
  const std::string png = png_of(draw_seven(120));
  auto c = client();
  for (std::size_t keep : {std::size_t{8}, std::size_t{30}, png.size() / 2, png.size() - 13}) {
    expect_error(c.Post("/api/predict", png.substr(0, keep), "image/png"), 400, "upload");
  }
}

TEST_F(ServeErrors, WrongContentType) {
  const std::string png = png_of(draw_seven(64));
  auto c = client();
  expect_error(c.Post("/api/predict", png, "text/plain"), 415, "text/plain");
  expect_error(c.Post("/api/predict", png, "application/json"), 415, "image/png");
  // What curl --data-binary sends by default: refused (415) with the hint to
  // send an image type, whatever its size within the limit.
  expect_error(c.Post("/api/predict", png.substr(0, 100), "application/x-www-form-urlencoded"), 415,
               "multipart/form-data");
  expect_error(c.Post("/api/predict", std::string(20000, 'a'), "application/x-www-form-urlencoded"),
               415, "image/png");
}

// A raw reply's status line and JSON body.
void expect_raw_error(const std::string& reply, int status, const std::string& mentions) {
  EXPECT_EQ(reply.rfind("HTTP/1.1 " + std::to_string(status), 0), 0u) << reply.substr(0, 300);
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply.substr(0, 300);
  EXPECT_NE(reply.find(mentions), std::string::npos) << reply.substr(0, 300);
}

// The limit holds while reading, for sized and chunked bodies alike, and the
// 413 comes without reading the rest (issue 13: httplib buffered a chunked
// body whole, and waited for a declared body before refusing it).
TEST_F(ServeErrors, OversizeBodyIs413AtOnce) {
  const std::size_t limit = ServeTest::options().max_body_bytes;
  const std::string head = "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n";
  // Declared over the limit, 1000 bytes sent: answered from the headers.
  const std::string sized =
      head + "Content-Length: " + std::to_string(limit + 1) + "\r\n\r\n" + std::string(1000, 'x');
  expect_raw_error(raw_http(port(), sized), 413, "(Content-Length) is larger than the limit");
  // Chunked, 64 KB chunks up to 128 KB past the limit: read up to the limit only.
  std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (std::size_t sent = 0; sent <= limit + (128 << 10); sent += 64 << 10) {
    chunked += "10000\r\n" + std::string(64 << 10, 'x') + "\r\n";
  }
  chunked += "0\r\n\r\n";
  expect_raw_error(raw_http(port(), chunked), 413, "larger than the limit of");
  // A chunked body anywhere else is refused before reading (httplib would buffer it).
  expect_raw_error(raw_http(port(),
                            "POST /elsewhere HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
                   411, "Content-Length");
  // A small chunked upload within the limit is read and answered.
  auto c = client();
  const std::string png = png_of(draw_seven(64));
  const auto res = c.Post(
      "/api/predict",
      [&](std::size_t offset, httplib::DataSink& sink) {
        if (offset < png.size()) {
          sink.write(png.data() + offset, std::min<std::size_t>(1000, png.size() - offset));
        } else {
          sink.done();
        }
        return true;
      },
      "image/png");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST_F(ServeErrors, AbsurdDimensions) {
  auto c = client();
  // Over the side limit, then within it but over the pixel limit (4 million here).
  expect_error(c.Post("/api/predict", png_claiming(100000, 100000), "image/png"), 400, "upload");
  expect_error(c.Post("/api/predict", png_claiming(3000, 3000), "image/png"), 400, "upload");
  expect_error(c.Post("/api/predict", png_claiming(0, 10), "image/png"), 400, "upload");
}

TEST_F(ServeErrors, MultipartWithoutImageField) {
  auto c = client();
  const httplib::MultipartFormDataItems items = {
      {"file", png_of(draw_seven(64)), "seven.png", "image/png"}};
  expect_error(c.Post("/api/predict", items), 400, "\"image\" (fields sent: file)");
}

TEST_F(ServeErrors, UnknownRouteIs404) {
  auto c = client();
  expect_error(c.Get("/nope"), 404, "/nope");
  expect_error(c.Post("/api/predictions", "x", "image/png"), 404, "POST /api/predictions");
  expect_error(c.Get("/../../etc/passwd"), 404, "no such resource");
  expect_error(c.Get("/web/index.html"), 404, "no such resource");
}

TEST_F(ServeErrors, WrongMethodIs405) {
  auto c = client();
  const auto get = c.Get("/api/predict");
  expect_error(get, 405, "allowed: POST");
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  expect_error(c.Put("/api/predict", png_of(draw_seven(64)), "image/png"), 405, "PUT");
  expect_error(c.Delete("/healthz"), 405, "allowed: GET, HEAD");
  expect_error(c.Post("/", "x", "image/png"), 405, "POST");
  const auto options = c.Options("/api/predict");
  ASSERT_TRUE(options);
  EXPECT_EQ(options->status, 204);
  EXPECT_EQ(options->get_header_value("Allow"), "POST, OPTIONS");
}

TEST_F(ServeErrors, MalformedHttp) {
  const std::string garbage = raw_http(port(), "GARBAGE\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
  EXPECT_NE(garbage.find("\"error\""), std::string::npos) << garbage;
  const std::string method = raw_http(port(), "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(method.rfind("HTTP/1.1 400", 0), 0u) << method;
  // Headers that end early, a body shorter than its Content-Length, binary junk:
  // the server drops those connections without an answer or with a 4xx.
  for (const std::string& request :
       {std::string("POST /api/predict HTTP/1.1\r\nContent-Type: image/png\r\n"),
        std::string("POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                    "Content-Length: 1000\r\n\r\n\x89PNG"),
        std::string("POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)}) {
    const std::string reply = raw_http(port(), request, /*give_up=*/true);
    EXPECT_TRUE(reply.empty() || reply.rfind("HTTP/1.1 4", 0) == 0) << reply;
  }
}

// Valid files with random bytes changed or cut off: each answer is a 200 or a
// 4xx JSON message, never a 5xx or a dropped connection.
TEST_F(ServeErrors, MutatedImagesGetAnswers) {
  const std::array<std::string, 2> originals = {png_of(draw_seven(64)), pgm_of(draw_zero(48))};
  std::mt19937 random(20240605);
  auto c = client();
  int answered = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = originals[static_cast<std::size_t>(trial) % 2];
    const int changes = 1 + static_cast<int>(random() % 8);
    for (int k = 0; k < changes; ++k) {
      bytes[random() % bytes.size()] = static_cast<char>(random() % 256);
    }
    if (trial % 3 == 0) bytes.resize(1 + random() % bytes.size());
    const auto res = c.Post("/api/predict", bytes, "image/png");
    ASSERT_TRUE(res) << "trial " << trial << ": " << httplib::to_string(res.error());
    ASSERT_TRUE(res->status == 200 || (res->status >= 400 && res->status < 500))
        << "trial " << trial << ": " << res->status << " " << res->body;
    if (res->status != 200) {
      EXPECT_FALSE(parse_json(res->body).get<std::string>("error").empty());
    }
    ++answered;
  }
  EXPECT_EQ(answered, 300);
}

// Runs last in this suite (tests run in order of definition).
TEST_F(ServeErrors, StillHealthyAfterAllOfThat) {
  auto c = client();
  const auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const auto res = c.Post("/api/predict", png_of(draw_seven(100)), "image/png");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(server().counts().server_errors, 0u);
  EXPECT_GT(server().counts().client_errors, 20u);
}

}  // namespace
