// dpmnist-serve's API with good requests: raw and multipart uploads in several
// formats, the answer matching the library called directly, no digit on a
// blank image, the page and model info, and many clients at once.
#include <httplib.h>

#include <atomic>
#include <numeric>
#include <thread>

#include "dpmnist/predict/preprocess.h"
#include "serve_fixture.h"

using namespace dpmnist;
using namespace dpmnist::test;

namespace {

class ServeApi : public ServeTest {};

// What the library itself says about these bytes.
Prediction expected_for(const Predictor& predictor, const std::string& bytes) {
  const DecodedImage decoded =
      decode_image({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, "test");
  const Preprocessed pre = preprocess_digit(decoded.gray);
  EXPECT_TRUE(pre.found) << pre.reason;
  return predictor.predict(pre.input);
}

void expect_answer_matches(const std::string& body, const Prediction& expected) {
  const auto json = parse_json(body);
  EXPECT_FALSE(json.get<bool>("no_digit"));
  EXPECT_EQ(json.get<std::size_t>("digit"), expected.digit);
  const std::vector<double> p = numbers_of(json.get_child("probabilities"));
  ASSERT_EQ(p.size(), 10u);
  EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-5);
  for (std::size_t d = 0; d < 10; ++d) EXPECT_NEAR(p[d], expected.probabilities[d], 1e-6) << d;
  EXPECT_NEAR(json.get<double>("probability"), expected.probabilities[expected.digit], 1e-6);
  EXPECT_EQ(json.get<std::string>("preprocessed").rfind("data:image/png;base64,iVBORw0KGgo", 0),
            0u);
  EXPECT_GE(json.get<double>("milliseconds.total"), json.get<double>("milliseconds.inference"));
  EXPECT_GE(json.get<double>("milliseconds.inference"), 0.0);
}

TEST_F(ServeApi, RawPngGetsTheLibrarysAnswer) {
  const std::string png = png_of(draw_seven(200));
  auto c = client();
  const auto res = c.Post("/api/predict", png, "image/png");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  expect_answer_matches(res->body, expected_for(predictor(), png));
  const auto json = parse_json(res->body);
  EXPECT_EQ(json.get<std::string>("image.format"), "png");
  EXPECT_EQ(json.get<std::size_t>("image.width"), 200u);
  EXPECT_FALSE(json.get<bool>("preprocessing.inverted"));
}

TEST_F(ServeApi, DarkInkOnPaperIsInvertedFirst) {
  const std::string png = png_of(draw_seven(160, /*dark_on_light=*/true));
  auto c = client();
  const auto res = c.Post("/api/predict", png, "image/png");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  expect_answer_matches(res->body, expected_for(predictor(), png));
  EXPECT_TRUE(parse_json(res->body).get<bool>("preprocessing.inverted"));
}

TEST_F(ServeApi, MultipartUploadAndPgmWork) {
  const std::string pgm = pgm_of(draw_zero(90));
  auto c = client();
  const httplib::MultipartFormDataItems items = {
      {"note", "a field the server ignores", "", ""},
      {"image", pgm, "zero.pgm", "application/octet-stream"}};
  const auto res = c.Post("/api/predict", items);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  expect_answer_matches(res->body, expected_for(predictor(), pgm));
  EXPECT_EQ(parse_json(res->body).get<std::string>("image.format"), "pnm");

  // The same bytes raw, with a media type that has parameters and capitals.
  const auto raw = c.Post("/api/predict", pgm, "Image/X-Portable-Graymap; q=1");
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->status, 200) << raw->body;
  EXPECT_EQ(parse_json(raw->body).get<std::size_t>("digit"),
            parse_json(res->body).get<std::size_t>("digit"));
}

TEST_F(ServeApi, BlankImageIsNoDigit) {
  GrayImage blank;
  blank.width = blank.height = 64;
  blank.pixels.assign(64 * 64, 0.0f);
  auto c = client();
  const auto res = c.Post("/api/predict", png_of(blank), "image/png");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto json = parse_json(res->body);
  EXPECT_TRUE(json.get<bool>("no_digit"));
  EXPECT_FALSE(json.get<std::string>("reason").empty());
  EXPECT_EQ(json.get<std::string>("digit"), "null");
  EXPECT_TRUE(json.get_child("probabilities").empty());
}

TEST_F(ServeApi, PageHealthAndModelInfo) {
  auto c = client();
  const auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<canvas id=\"pad\""), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  for (const char* path : {"/app.js", "/style.css", "/index.html"}) {
    const auto asset = c.Get(path);
    ASSERT_TRUE(asset);
    EXPECT_EQ(asset->status, 200) << path;
    EXPECT_GT(asset->body.size(), 100u) << path;
  }
  EXPECT_EQ(c.Get("/app.js")->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  // No external resources: nothing on the page names another host.
  for (const char* path : {"/", "/app.js", "/style.css"}) {
    const std::string body = c.Get(path)->body;
    EXPECT_EQ(body.find("http://"), std::string::npos) << path;
    EXPECT_EQ(body.find("https://"), std::string::npos) << path;
  }

  const auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(parse_json(health->body).get<std::string>("status"), "ok");

  const auto model = c.Get("/api/model");
  ASSERT_TRUE(model);
  ASSERT_EQ(model->status, 200);
  const auto json = parse_json(model->body);
  EXPECT_EQ(json.get<std::string>("architecture"), predictor().info().architecture());
  EXPECT_EQ(json.get<std::size_t>("parameters"), predictor().info().parameters);
  EXPECT_DOUBLE_EQ(json.get<double>("test_accuracy"), 0.5);
  EXPECT_EQ(json.get<int>("epoch"), 1);
  EXPECT_EQ(json.get<int>("world_size"), 2);
}

// 8 clients x 50 requests, two images alternating: every answer 200 and
// equal to the one-at-a-time answer for its image.
TEST_F(ServeApi, ConcurrentClientsAllSucceedAndAgree) {
  const std::array<std::string, 2> images = {png_of(draw_seven(120)), png_of(draw_zero(100))};
  std::array<std::vector<double>, 2> expected;
  for (std::size_t i = 0; i < 2; ++i) {
    auto c = client();
    const auto res = c.Post("/api/predict", images[i], "image/png");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    expected[i] = numbers_of(parse_json(res->body).get_child("probabilities"));
  }
  constexpr int kThreads = 8, kRequests = 50;
  std::atomic<int> ok{0}, failed{0}, disagreed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = client();
      for (int r = 0; r < kRequests; ++r) {
        const std::size_t which = static_cast<std::size_t>((t + r) % 2);
        const auto res = c.Post("/api/predict", images[which], "image/png");
        if (!res || res->status != 200) {
          ++failed;
          continue;
        }
        const std::vector<double> p = numbers_of(parse_json(res->body).get_child("probabilities"));
        p == expected[which] ? ++ok : ++disagreed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(disagreed.load(), 0);
  auto c = client();
  const auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(server().counts().server_errors, 0u);
}

}  // namespace
