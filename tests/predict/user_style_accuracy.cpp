// dpmnist-user-style-accuracy: a trained model's accuracy on the user-style
// set (user_style.h) with dpmnist's preprocessing and without it (naive
// 28x28 resize, pixel/255), beside the same digits' clean MNIST form; plus
// per-image latency. --write DIR also saves the images, for dpmnist-predict;
// --demo DIR writes a few named examples (canvas, photos, corner, blank, bad).
//   dpmnist-user-style-accuracy --checkpoint runs/seed/checkpoint.h5 [--count 500] [--seed 2024]
//   dpmnist-user-style-accuracy --demo DIR
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "dpmnist/core/error.h"
#include "dpmnist/predict/image.h"
#include "dpmnist/predict/predictor.h"
#include "dpmnist/predict/preprocess.h"
#include "stroke_font.h"
#include "user_style.h"

using namespace dpmnist;

namespace {

struct Tally {
  std::size_t count = 0, with = 0, without = 0, clean = 0, no_digit = 0;
  void print(const std::string& name) const {
    const auto pct = [&](std::size_t k) {
      return 100.0 * static_cast<double>(k) / static_cast<double>(count);
    };
    std::printf("%-12s %5zu  %8.1f%%  %8.1f%%  %8.1f%%  %8zu\n", name.c_str(), count, pct(with),
                pct(without), pct(clean), no_digit);
  }
};

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(
                                                q * static_cast<double>(values.size() - 1) + 0.5))];
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  require(out.good(), path, ": cannot write");
}

// Named examples of what users upload, for dpmnist-predict and the server.
void write_demo(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::vector<std::pair<std::string, test::UserStyleChoice>> demos = {
      {"canvas-280-7.png", {"drawing", "png", 280, 280, 0.7f}},
      {"photo-1600x1200-4.jpg", {"photo", "jpeg", 1600, 1200, 0.5f}},
      {"small-4000x3000-2.jpg", {"photo", "jpeg", 4000, 3000, 0.06f}},
      {"transparent-512-9.png", {"transparent", "png", 512, 512, 0.6f}},
      {"scan-800x1000-0.png", {"photo", "png", 800, 1000, 0.3f}}};
  for (const auto& [name, choice] : demos) {
    const std::size_t digit = static_cast<std::size_t>(name[name.size() - 5] - '0');
    write_bytes(dir + "/" + name, test::make_user_style_image(digit, 42 + digit, choice).file);
  }
  write_bytes(dir + "/blank.png",
              test::encode_test_png(std::vector<std::uint8_t>(640 * 480, 250), 640, 480, 1));
  write_bytes(dir + "/not-an-image.png", {'<', 'h', 't', 'm', 'l', '>', '\n'});
  const std::vector<std::uint8_t> canvas = test::make_user_style_image(7, 49, demos[0].second).file;
  write_bytes(dir + "/truncated.png",
              std::vector<std::uint8_t>(canvas.begin(), canvas.begin() + 300));
  std::printf("wrote %zu demo images to %s\n", demos.size() + 3, dir.c_str());
}

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string checkpoint, write_dir;
    std::size_t count = 500;
    std::uint64_t seed = 2024;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      require(i + 1 < argc, arg,
              ": missing value (options: --checkpoint C --count N --seed S --write DIR)");
      const std::string value = argv[++i];
      if (arg == "--checkpoint")
        checkpoint = value;
      else if (arg == "--count")
        count = std::stoul(value);
      else if (arg == "--seed")
        seed = std::stoull(value);
      else if (arg == "--write")
        write_dir = value;
      else if (arg == "--demo") {
        write_demo(value);
        return 0;
      } else
        throw Error(concat("unknown option ", arg));
    }
    require(!checkpoint.empty(), "--checkpoint is required");
    const Predictor predictor(checkpoint);
    const ModelInfo& info = predictor.info();
    std::printf("model %s (%s, epoch %lld, test accuracy %.4f)\n", checkpoint.c_str(),
                info.architecture().c_str(), static_cast<long long>(info.epoch),
                info.test_accuracy.value_or(0.0));
    const std::vector<test::UserStyleImage> set = test::make_user_style_set(count, seed);
    if (!write_dir.empty()) std::filesystem::create_directories(write_dir);

    std::map<std::string, Tally> tallies;
    std::vector<double> decode_ms, preprocess_ms, inference_ms;
    double distance_sum = 0;
    for (std::size_t i = 0; i < set.size(); ++i) {
      const test::UserStyleImage& image = set[i];
      if (!write_dir.empty()) {
        const std::string name = concat(write_dir, "/", i, "-", image.kind, "-", image.label, ".",
                                        image.format == "jpeg" ? "jpg" : "png");
        std::ofstream(name, std::ios::binary)
            .write(reinterpret_cast<const char*>(image.file.data()),
                   static_cast<std::streamsize>(image.file.size()));
      }
      const auto t0 = std::chrono::steady_clock::now();
      const DecodedImage decoded = decode_image(image.file, concat("image ", i));
      const auto t1 = std::chrono::steady_clock::now();
      const Preprocessed pre = preprocess_digit(decoded.gray);
      const auto t2 = std::chrono::steady_clock::now();
      decode_ms.push_back(ms_between(t0, t1));
      preprocess_ms.push_back(ms_between(t1, t2));
      for (const std::string& key : {std::string("all"), image.kind}) {
        Tally& t = tallies[key];
        ++t.count;
        t.clean += predictor.predict(image.clean).digit == image.label;
        t.without += predictor.predict(test::naive_input(decoded.gray)).digit == image.label;
        if (!pre.found) {
          ++t.no_digit;
          continue;
        }
        t.with += predictor.predict(pre.input).digit == image.label;
      }
      if (pre.found) {
        const auto t3 = std::chrono::steady_clock::now();
        (void)predictor.predict(pre.input);
        inference_ms.push_back(ms_between(t3, std::chrono::steady_clock::now()));
        // Against the clean form drawn with the same centre of mass.
        const std::array<float, kImagePixels> clean =
            test::render_mnist_form(image.glyph, center_of_mass(pre.input));
        double squared = 0;
        for (std::size_t p = 0; p < kImagePixels; ++p) {
          squared += std::pow(static_cast<double>(pre.input[p] - clean[p]), 2);
        }
        distance_sum += std::sqrt(squared / kImagePixels);
      }
    }
    std::printf("user-style set: %zu images, seed %llu\n", set.size(),
                static_cast<unsigned long long>(seed));
    std::printf("%-12s %5s  %9s  %9s  %9s  %8s\n", "kind", "count", "with", "without", "clean",
                "no digit");
    tallies["all"].print("all");
    for (const auto& [kind, tally] : tallies) {
      if (kind != "all") tally.print(kind);
    }
    const std::size_t found = tallies["all"].count - tallies["all"].no_digit;
    std::printf("mean RMS distance of the preprocessed input to the clean MNIST form: %.4f\n",
                found ? distance_sum / static_cast<double>(found) : 0.0);
    std::printf(
        "latency per image (ms): decode p50 %.3f p99 %.3f | preprocess p50 %.3f p99 %.3f | "
        "inference p50 %.4f p99 %.4f\n",
        percentile(decode_ms, 0.5), percentile(decode_ms, 0.99), percentile(preprocess_ms, 0.5),
        percentile(preprocess_ms, 0.99), percentile(inference_ms, 0.5),
        percentile(inference_ms, 0.99));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "dpmnist-user-style-accuracy: error: " << e.what() << std::endl;
    return 1;
  }
}
