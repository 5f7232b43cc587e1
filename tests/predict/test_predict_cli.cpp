// dpmnist-predict as a user runs it: good, blank and bad files in one call
// (each bad one reported, the rest still processed, exit 1), JSON lines that
// parse, text output, --save-preprocessed, --repeat, and usage errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dpmnist/core/json.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/predict/image.h"
#include "stroke_font.h"
#include "support/fixtures.h"
#include "tiny_model.h"
#include "user_style.h"

using namespace dpmnist;

namespace {

struct CliRun {
  int code = -1;
  std::string out, err;
  std::vector<std::string> lines;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

class PredictCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::make_temp_dir("predict-cli");
    const test::TinyModel model = test::train_tiny_model(test::make_clean_digits(2000, 1),
                                                         {kImagePixels, 32, kNumClasses}, 3, 2);
    test::save_tiny_checkpoint(dir_ + "/checkpoint.h5", model, 0.9);
    // A clean drawing of a 3 (light on black) and of a 7 (dark on white), a
    // user-style photo, a blank page, and bad files of every kind.
    for (const auto& [digit, name, dark_on_light] :
         {std::tuple{3, "three.png", false}, {7, "seven.png", true}}) {
      Rng rng(static_cast<std::uint64_t>(digit));
      const test::Glyph glyph = test::handwritten_glyph(static_cast<std::size_t>(digit), rng);
      std::vector<float> cover(200 * 240, 0.0f);
      const float scale = 150.0f / (glyph.y1 - glyph.y0);
      test::render_glyph(glyph, scale, 60 - glyph.x0 * scale, 40 - glyph.y0 * scale, 200, 240,
                         cover);
      std::vector<std::uint8_t> gray(cover.size());
      for (std::size_t i = 0; i < cover.size(); ++i) {
        const float v = 255.0f * cover[i];
        gray[i] = static_cast<std::uint8_t>(dark_on_light ? 255.0f - v : v);
      }
      write_file(dir_ + "/" + name, test::encode_test_png(gray, 200, 240, 1));
    }
    const test::UserStyleImage photo = test::make_user_style_image(5, 12);
    write_file(dir_ + "/photo." + (photo.format == "jpeg" ? "jpg" : "png"), photo.file);
    photo_name_ = "photo." + std::string(photo.format == "jpeg" ? "jpg" : "png");
    write_file(dir_ + "/blank.png",
               test::encode_test_png(std::vector<std::uint8_t>(64 * 64, 255), 64, 64, 1));
    write_file(dir_ + "/text.png", {'h', 'e', 'l', 'l', 'o', '\n'});
    const std::string three = slurp(dir_ + "/three.png");
    write_file(dir_ + "/truncated.png",
               std::vector<std::uint8_t>(three.begin(), three.begin() + 100));
    write_file(dir_ + "/empty.png", {});
  }

  static CliRun run(const std::string& arguments) {
    CliRun r;
    const std::string err = dir_ + "/stderr.txt";
    FILE* pipe =
        popen((std::string(DPMNIST_PREDICT_BIN) + " " + arguments + " 2> " + err).c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    char buffer[4096];
    while (pipe && std::fgets(buffer, sizeof buffer, pipe)) r.out += buffer;
    const int status = pipe ? pclose(pipe) : -1;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = slurp(err);
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) r.lines.push_back(line);
    return r;
  }

  static std::string checkpoint() { return "--checkpoint " + dir_ + "/checkpoint.h5 "; }
  static std::string file(const std::string& name) { return dir_ + "/" + name + " "; }

  static std::string dir_, photo_name_;
};

std::string PredictCli::dir_, PredictCli::photo_name_;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_F(PredictCli, JsonLinesForGoodBlankAndBadFilesInOrder) {
  const std::vector<std::string> names = {"three.png",     "text.png",    "seven.png", "blank.png",
                                          "truncated.png", "missing.png", "empty.png", photo_name_};
  std::string arguments = checkpoint() + "--json --top 3 ";
  for (const std::string& name : names) arguments += file(name);
  const CliRun r = run(arguments);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "4 of 8 file(s) failed")) << r.err;
  ASSERT_EQ(r.lines.size(), names.size()) << r.out;
  // Every line is one JSON object (parsed here), in the order of the files.
  std::vector<Json> rows;
  for (const std::string& line : r.lines) rows.push_back(Json::parse(line));
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(rows[i]["file"], dir_ + "/" + names[i]);
  }
  EXPECT_EQ(rows[0]["ok"], true);
  EXPECT_EQ(rows[0]["no_digit"], false);
  EXPECT_EQ(rows[0]["digit"], 3);
  EXPECT_EQ(rows[2]["digit"], 7);
  EXPECT_EQ(rows[2]["preprocessing"]["inverted"], true);
  EXPECT_EQ(rows[0]["preprocessing"]["inverted"], false);
  EXPECT_EQ(rows[7]["no_digit"], false);
  EXPECT_EQ(rows[3]["no_digit"], true);
  EXPECT_TRUE(contains(rows[3]["reason"].get<std::string>(), "blank image")) << rows[3];
  EXPECT_EQ(rows[1]["ok"], false);
  EXPECT_TRUE(contains(rows[1]["error"].get<std::string>(),
                       dir_ + "/text.png: not a readable image: unknown format"));
  EXPECT_TRUE(contains(rows[4]["error"].get<std::string>(), "cannot decode png image 200x240"));
  EXPECT_TRUE(contains(rows[5]["error"].get<std::string>(), "missing.png: no such file"));
  EXPECT_TRUE(contains(rows[6]["error"].get<std::string>(), "empty.png: empty file (0 bytes)"));
  for (std::size_t i : {0u, 2u, 7u}) {
    const Json& row = rows[i];
    ASSERT_EQ(row["top"].size(), 3u) << row;
    EXPECT_EQ(row["top"][0], row["digit"]);
    double sum = 0;
    for (double p : row["probabilities"]) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-5);  // 10 floats of about 1e-7 relative error each
    EXPECT_GE(row["milliseconds"]["inference"].get<double>(), 0.0);
  }
}

// The CLI and POST /api/predict name every field alike: one function writes
// both (prediction_json.h); the CLI adds the file, the API the 28x28 PNG.
TEST_F(PredictCli, JsonHasTheApisFieldNames) {
  const CliRun r = run(checkpoint() + "--json " + file("three.png") + file("blank.png"));
  ASSERT_EQ(r.lines.size(), 2u) << r.out;
  const std::vector<std::string> expected = {
      "file",          "ok",  "no_digit", "digit",         "probability",
      "probabilities", "top", "image",    "preprocessing", "milliseconds"};
  for (const std::string& line : r.lines) {
    const Json row = Json::parse(line);
    for (const std::string& key : expected) EXPECT_TRUE(row.contains(key)) << key << " in " << line;
    if (row["no_digit"] == false) {
      for (const char* key : {"x", "y", "width", "height"}) {
        EXPECT_TRUE(row["preprocessing"]["ink_box"].contains(key)) << key;
      }
    }
  }
  EXPECT_FALSE(r.out.find("\"found\"") != std::string::npos ||
               r.out.find("\"ms\"") != std::string::npos);
}

TEST_F(PredictCli, TextOutputSavedInputsAndExitZero) {
  const CliRun r = run(checkpoint() + "--top 2 --save-preprocessed " + dir_ + "/saved " +
                       file("three.png") + file("blank.png") + file("seven.png"));
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 3u) << r.out;
  EXPECT_TRUE(contains(r.lines[0], "three.png: 3 (p=")) << r.lines[0];
  EXPECT_TRUE(contains(r.lines[0], "preprocess ")) << r.lines[0];
  EXPECT_TRUE(contains(r.lines[0], "inference ")) << r.lines[0];
  EXPECT_TRUE(contains(r.lines[1], "blank.png: no digit found (blank image")) << r.lines[1];
  EXPECT_TRUE(contains(r.lines[2], "seven.png: 7 (p=")) << r.lines[2];
  const DecodedImage saved = read_image_file(dir_ + "/saved/three.png");
  EXPECT_EQ(saved.gray.width, kImageSide);
  EXPECT_EQ(saved.gray.height, kImageSide);
  EXPECT_FALSE(std::ifstream(dir_ + "/saved/blank.png").good());  // nothing to save
}

TEST_F(PredictCli, RepeatPrintsLatencyPercentiles) {
  const CliRun r = run(checkpoint() + "--repeat 5 " + file("three.png") + file("seven.png"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.lines.size(), 2u);
  EXPECT_TRUE(contains(r.err, "latency over 10 runs (ms): decode p50 ")) << r.err;
}

TEST_F(PredictCli, UsageErrorsExitTwoWithTheReason) {
  CliRun r = run(checkpoint());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "no image files given")) << r.err;
  r = run("--checkpoint " + dir_ + "/absent.h5 " + file("three.png"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, dir_ + "/absent.h5")) << r.err;
  r = run(checkpoint() + "--top 11 " + file("three.png"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--top = '11': expected an integer in [1, 10]")) << r.err;
  r = run(file("three.png"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "checkpoint")) << r.err;
}
