#include "dpmnist/serve/api.h"

#include <array>
#include <chrono>

#include "dpmnist/core/error.h"
#include "dpmnist/core/json.h"
#include "dpmnist/core/stopwatch.h"
#include "dpmnist/predict/prediction_json.h"
#include "dpmnist/predict/preprocess.h"

namespace dpmnist::serve {

namespace {

Json optional_number(std::optional<double> value) {
  return value ? Json(*value) : Json(nullptr);
}

}  // namespace

Reply error_reply(int status, std::string_view message) {
  return {status, json_text({{"error", message}, {"status", status}})};
}

Reply predict_reply(const Predictor& predictor, std::span<const std::uint8_t> bytes,
                    const ImageLimits& limits) {
  const Stopwatch total;
  Stopwatch stage;
  if (bytes.empty()) {
    return error_reply(400,
                       "empty request body: send the image file's bytes (PNG, JPEG, BMP, "
                       "GIF, PGM/PPM) or a multipart/form-data upload with field \"image\"");
  }
  DecodedImage decoded;
  try {
    decoded = decode_image(bytes, "upload", limits);
  } catch (const Error& e) {
    return error_reply(400, e.what());
  }
  StageMilliseconds ms;
  ms.decode = stage.milliseconds();
  stage.restart();
  Preprocessed pre;
  try {
    pre = preprocess_digit(decoded.gray);
  } catch (const Error& e) {
    return error_reply(422, concat("cannot preprocess the image: ", e.what()));
  }
  ms.preprocess = stage.milliseconds();
  stage.restart();

  Json json;
  if (!pre.found) {
    json = prediction_json(decoded, pre, nullptr, 3);
    json["preprocessed"] = nullptr;
  } else {
    const Prediction prediction = predictor.predict(pre.input);
    ms.inference = stage.milliseconds();
    stage.restart();
    const std::vector<std::uint8_t> png = encode_png(input_to_image(pre.input));
    json = prediction_json(decoded, pre, &prediction, 3);
    json["preprocessed"] = data_url("image/png", png);
    ms.encode = stage.milliseconds();
  }
  ms.total = total.milliseconds();
  json["milliseconds"] = milliseconds_json(ms);
  return {200, json_text(json)};
}

std::string model_json(const ModelInfo& info) {
  return json_text({{"architecture", info.architecture()},
                    {"widths", info.widths},
                    {"parameters", info.parameters},
                    {"epoch", info.epoch},
                    {"global_step", info.global_step},
                    {"world_size", info.world_size},
                    {"test_accuracy", optional_number(info.test_accuracy)},
                    {"train_accuracy", optional_number(info.train_accuracy)},
                    {"test_loss", optional_number(info.test_loss)},
                    {"checkpoint", info.checkpoint}});
}

std::string data_url(std::string_view media_type, std::span<const std::uint8_t> bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "data:";
  out += media_type;
  out += ";base64,";
  out.reserve(out.size() + (bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += kAlphabet[(group >> 6) & 63];
    out += kAlphabet[group & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t group = std::uint32_t{bytes[i]} << 16;
    if (rest == 2) group |= std::uint32_t{bytes[i + 1]} << 8;
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += rest == 2 ? kAlphabet[(group >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace dpmnist::serve
