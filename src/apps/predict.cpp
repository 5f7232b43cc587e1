// dpmnist-predict: the digit in each image file, with its probability, the
// top-k and the time spent decoding, preprocessing and running the model;
// human-readable or --json (one JSON object per line). A bad file is reported
// and the rest are still processed; the exit code is 1 if any file failed.
// --repeat N runs each file N times and prints latency percentiles.
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "dpmnist/error.h"
#include "dpmnist/predict/image.h"
#include "dpmnist/predict/predictor.h"
#include "dpmnist/predict/preprocess.h"
#include "dpmnist/runtime.h"

namespace po = boost::program_options;
using namespace dpmnist;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

struct Outcome {
  std::string file;
  std::string error;  // non-empty: the file failed
  DecodedImage decoded;
  Preprocessed pre;
  Prediction prediction;
  double decode_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

Outcome run_one(const std::string& file, const Predictor& predictor) {
  Outcome o;
  o.file = file;
  try {
    auto start = Clock::now();
    o.decoded = read_image_file(file);
    o.decode_ms = ms_since(start);
    start = Clock::now();
    o.pre = preprocess_digit(o.decoded.gray);
    o.preprocess_ms = ms_since(start);
    if (o.pre.found) {
      start = Clock::now();
      o.prediction = predictor.predict(o.pre.input);
      o.inference_ms = ms_since(start);
    }
  } catch (const std::exception& e) {
    o.error = e.what();
  }
  return o;
}

void print_json(const Outcome& o, std::size_t top) {
  if (!o.error.empty()) {
    std::printf("{\"file\": %s, \"ok\": false, \"error\": %s}\n", json_string(o.file).c_str(),
                json_string(o.error).c_str());
    return;
  }
  const Preprocessed& p = o.pre;
  std::printf("{\"file\": %s, \"ok\": true, \"found\": %s, ", json_string(o.file).c_str(),
              p.found ? "true" : "false");
  if (p.found) {
    std::printf("\"digit\": %zu, \"probability\": %.6f, \"top\": [", o.prediction.digit,
                static_cast<double>(o.prediction.probabilities[o.prediction.digit]));
    const std::vector<std::size_t> ranked = o.prediction.top(top);
    for (std::size_t i = 0; i < ranked.size(); ++i) {
      std::printf("%s{\"digit\": %zu, \"probability\": %.6f}", i ? ", " : "", ranked[i],
                  static_cast<double>(o.prediction.probabilities[ranked[i]]));
    }
    std::printf("], \"probabilities\": [");
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      std::printf("%s%.6f", c ? ", " : "", static_cast<double>(o.prediction.probabilities[c]));
    }
    std::printf("], ");
  } else {
    std::printf("\"reason\": %s, ", json_string(p.reason).c_str());
  }
  std::printf(
      "\"image\": {\"format\": \"%s\", \"width\": %zu, \"height\": %zu, \"channels\": %d, "
      "\"alpha_background\": \"%s\"}, ",
      o.decoded.format.c_str(), o.decoded.gray.width, o.decoded.gray.height, o.decoded.channels,
      alpha_background_name(o.decoded.alpha_background));
  std::printf(
      "\"preprocess\": {\"inverted\": %s, \"background\": %.1f, \"threshold\": %.1f, "
      "\"ink_box\": [%zu, %zu, %zu, %zu], \"ink_fraction\": %.6f, \"specks_removed\": %zu}, ",
      p.inverted ? "true" : "false", static_cast<double>(p.background),
      static_cast<double>(p.threshold), p.ink_box.x0, p.ink_box.y0, p.ink_box.x1, p.ink_box.y1,
      p.ink_fraction, p.specks_removed);
  std::printf("\"ms\": {\"decode\": %.3f, \"preprocess\": %.3f, \"inference\": %.3f}}\n",
              o.decode_ms, o.preprocess_ms, o.inference_ms);
}

void print_text(const Outcome& o, std::size_t top) {
  if (!o.error.empty()) {
    std::printf("%s: error: %s\n", o.file.c_str(), o.error.c_str());
    return;
  }
  const Preprocessed& p = o.pre;
  if (!p.found) {
    std::printf("%s: no digit found (%s)  [decode %.2f ms, preprocess %.2f ms]\n", o.file.c_str(),
                p.reason.c_str(), o.decode_ms, o.preprocess_ms);
    return;
  }
  std::printf("%s: %zu (p=%.3f)  top", o.file.c_str(), o.prediction.digit,
              static_cast<double>(o.prediction.probabilities[o.prediction.digit]));
  for (std::size_t c : o.prediction.top(top)) {
    std::printf(" %zu:%.3f", c, static_cast<double>(o.prediction.probabilities[c]));
  }
  std::printf(
      "  [%s %zux%zu%s, ink box %zux%zu, decode %.2f ms, preprocess %.2f ms, "
      "inference %.3f ms]\n",
      o.decoded.format.c_str(), o.decoded.gray.width, o.decoded.gray.height,
      p.inverted ? " inverted" : "", p.ink_box.width(), p.ink_box.height(), o.decode_ms,
      o.preprocess_ms, o.inference_ms);
}

// dir/<stem>.png, or dir/<stem>-<k>.png when an earlier file had the same stem.
std::string preprocessed_path(const std::string& dir, const std::string& file,
                              std::set<std::string>& used) {
  const std::string stem = std::filesystem::path(file).stem().string();
  std::string name = stem + ".png";
  for (int k = 2; used.count(name); ++k) name = stem + "-" + std::to_string(k) + ".png";
  used.insert(name);
  return (std::filesystem::path(dir) / name).string();
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto k = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(k, values.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  try {
    std::string checkpoint_path, save_dir;
    std::size_t top = 3, repeat = 1;
    std::vector<std::string> files;
    po::options_description options("dpmnist-predict [options] FILE...");
    options.add_options()("help,h", "print this help")(
        "checkpoint", po::value(&checkpoint_path)->required(), "checkpoint.h5 from dpmnist-train")(
        "json", "one JSON object per file and line")(
        "top", po::value(&top), "how many classes to list, most probable first (default 3)")(
        "save-preprocessed", po::value(&save_dir),
        "write each 28x28 model input as DIR/<name>.png")(
        "repeat", po::value(&repeat), "run each file N times; print latency p50/p99 to stderr")(
        "file", po::value(&files), "PNG, JPEG, BMP, GIF or PGM/PPM images");
    po::positional_options_description positional;
    positional.add("file", -1);
    po::variables_map vm;
    try {
      po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
                vm);
      if (vm.count("help")) {
        std::cout << options;
        return 0;
      }
      po::notify(vm);
    } catch (const po::error& e) {
      throw Error(concat(e.what(), " (see dpmnist-predict --help)"));
    }
    require(!files.empty(), "no image files given (see dpmnist-predict --help)");
    require(top >= 1 && top <= kNumClasses, "--top ", top, ": expected 1..", kNumClasses);
    require(repeat >= 1, "--repeat ", repeat, ": expected >= 1");
    if (!save_dir.empty()) {
      const std::string problem = cannot_use_directory(save_dir);
      require(problem.empty(), "--save-preprocessed: ", problem);
    }

    const Predictor predictor(checkpoint_path);
    const bool json = vm.count("json") > 0;
    std::set<std::string> used_names;
    std::vector<double> decode_ms, preprocess_ms, inference_ms;
    int failed = 0;
    for (const std::string& file : files) {
      Outcome o;
      for (std::size_t r = 0; r < repeat; ++r) {
        o = run_one(file, predictor);
        if (!o.error.empty()) break;
        decode_ms.push_back(o.decode_ms);
        preprocess_ms.push_back(o.preprocess_ms);
        if (o.pre.found) inference_ms.push_back(o.inference_ms);
      }
      if (o.error.empty() && o.pre.found && !save_dir.empty()) {
        try {
          write_png(preprocessed_path(save_dir, file, used_names), input_to_image(o.pre.input));
        } catch (const std::exception& e) {
          o.error = e.what();
        }
      }
      failed += o.error.empty() ? 0 : 1;
      json ? print_json(o, top) : print_text(o, top);
      std::fflush(stdout);
    }
    if (repeat > 1) {
      std::fprintf(stderr,
                   "latency over %zu runs (ms): decode p50 %.3f p99 %.3f | preprocess p50 %.3f "
                   "p99 %.3f | inference p50 %.4f p99 %.4f\n",
                   decode_ms.size(), percentile(decode_ms, 0.5), percentile(decode_ms, 0.99),
                   percentile(preprocess_ms, 0.5), percentile(preprocess_ms, 0.99),
                   percentile(inference_ms, 0.5), percentile(inference_ms, 0.99));
    }
    if (failed > 0) {
      std::fprintf(stderr, "dpmnist-predict: %d of %zu file(s) failed\n", failed, files.size());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "dpmnist-predict: error: " << e.what() << std::endl;
    return 2;
  }
}
