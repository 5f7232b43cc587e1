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

#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"
#include "dpmnist/core/stopwatch.h"
#include "dpmnist/predict/image.h"
#include "dpmnist/predict/prediction_json.h"
#include "dpmnist/predict/predictor.h"
#include "dpmnist/predict/preprocess.h"
#include "dpmnist/train/options.h"

namespace po = boost::program_options;
using namespace dpmnist;

namespace {

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
    Stopwatch start;
    o.decoded = read_image_file(file);
    o.decode_ms = start.milliseconds();
    start.restart();
    o.pre = preprocess_digit(o.decoded.gray);
    o.preprocess_ms = start.milliseconds();
    if (o.pre.found) {
      start.restart();
      o.prediction = predictor.predict(o.pre.input);
      o.inference_ms = start.milliseconds();
    }
  } catch (const std::exception& e) {
    o.error = e.what();
  }
  return o;
}

// The API's prediction object (prediction_json.h) with the file it came from.
void print_json(const Outcome& o, std::size_t top) {
  Json json = {{"file", o.file}, {"ok", o.error.empty()}};
  if (!o.error.empty()) {
    json["error"] = o.error;
  } else {
    json.update(prediction_json(o.decoded, o.pre, o.pre.found ? &o.prediction : nullptr, top));
    StageMilliseconds ms;
    ms.decode = o.decode_ms;
    ms.preprocess = o.preprocess_ms;
    ms.inference = o.inference_ms;
    ms.total = o.decode_ms + o.preprocess_ms + o.inference_ms;
    json["milliseconds"] = milliseconds_json(ms);
  }
  std::printf("%s\n", json_text(json).c_str());
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

struct Args {
  std::string checkpoint_path, save_dir;
  std::size_t top = 3, repeat = 1;
  std::vector<std::string> files;
  bool json = false, help = false;
};

Args parse_args(int argc, char** argv) {
  Args args;
  po::options_description options("dpmnist-predict [options] FILE...");
  options.add_options()("help,h", "print this help")(
      "checkpoint", po::value(&args.checkpoint_path)->required(),
      "checkpoint.h5 from dpmnist-train")("json", "one JSON object per file and line")(
      "save-preprocessed", po::value(&args.save_dir),
      "write each 28x28 model input as DIR/<name>.png")("file", po::value(&args.files),
                                                        "PNG, JPEG, BMP, GIF or PGM/PPM images");
  add_number(options, "top", &args.top, between<std::size_t>(1, kNumClasses),
             "how many classes to list, most probable first");
  add_number(options, "repeat", &args.repeat, between<std::size_t>(1, 1'000'000),
             "run each file N times; print latency p50/p99 to stderr");
  po::positional_options_description positional;
  positional.add("file", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
              vm);
    if (vm.count("help")) {
      std::cout << options;
      args.help = true;
      return args;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(concat(e.what(), " (see dpmnist-predict --help)"));
  }
  args.json = vm.count("json") > 0;
  require(!args.files.empty(), "no image files given (see dpmnist-predict --help)");
  if (!args.save_dir.empty()) {
    const std::string problem = cannot_use_directory(args.save_dir);
    require(problem.empty(), "--save-preprocessed: ", problem);
  }
  return args;
}

// Every file, printed as it is done; returns how many failed.
int predict_files(const Args& args, const Predictor& predictor) {
  std::set<std::string> used_names;
  std::vector<double> decode_ms, preprocess_ms, inference_ms;
  int failed = 0;
  for (const std::string& file : args.files) {
    Outcome o;
    for (std::size_t r = 0; r < args.repeat; ++r) {
      o = run_one(file, predictor);
      if (!o.error.empty()) break;
      decode_ms.push_back(o.decode_ms);
      preprocess_ms.push_back(o.preprocess_ms);
      if (o.pre.found) inference_ms.push_back(o.inference_ms);
    }
    if (o.error.empty() && o.pre.found && !args.save_dir.empty()) {
      try {
        write_png(preprocessed_path(args.save_dir, file, used_names), input_to_image(o.pre.input));
      } catch (const std::exception& e) {
        o.error = e.what();
      }
    }
    failed += o.error.empty() ? 0 : 1;
    args.json ? print_json(o, args.top) : print_text(o, args.top);
    std::fflush(stdout);
  }
  if (args.repeat > 1) {
    std::fprintf(stderr,
                 "latency over %zu runs (ms): decode p50 %.3f p99 %.3f | preprocess p50 %.3f "
                 "p99 %.3f | inference p50 %.4f p99 %.4f\n",
                 decode_ms.size(), percentile(decode_ms, 0.5), percentile(decode_ms, 0.99),
                 percentile(preprocess_ms, 0.5), percentile(preprocess_ms, 0.99),
                 percentile(inference_ms, 0.5), percentile(inference_ms, 0.99));
  }
  return failed;
}

}  // namespace

int main(int argc, char** argv) {
  // First: may re-execute with better OpenBLAS kernels; flushes denormals.
  dpmnist::init_runtime(argv);
  try {
    const Args args = parse_args(argc, argv);
    if (args.help) return 0;
    const Predictor predictor(args.checkpoint_path);
    const int failed = predict_files(args, predictor);
    if (failed > 0) {
      std::fprintf(stderr, "dpmnist-predict: %d of %zu file(s) failed\n", failed,
                   args.files.size());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "dpmnist-predict: error: " << e.what() << std::endl;
    return 2;
  }
}
