#include "dpmnist/serve/api.h"

#include <array>
#include <chrono>

#include "dpmnist/error.h"
#include "dpmnist/predict/preprocess.h"
#include "dpmnist/serve/json.h"

namespace dpmnist::serve {

namespace {

using Clock = std::chrono::steady_clock;

double milliseconds_between(Clock::time_point begin, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - begin).count();
}

void write_image_fields(JsonWriter& json, const DecodedImage& decoded) {
  json.key("image").begin_object();
  json.field("width", decoded.gray.width).field("height", decoded.gray.height);
  json.field("format", decoded.format).field("channels", decoded.channels);
  json.field("alpha_background", alpha_background_name(decoded.alpha_background));
  json.end_object();
}

void write_preprocessing_fields(JsonWriter& json, const Preprocessed& pre) {
  json.key("preprocessing").begin_object();
  json.field("inverted", pre.inverted).field("background", pre.background);
  json.field("threshold", pre.threshold);
  if (pre.found) {
    json.key("ink_box").begin_object();
    json.field("x", pre.ink_box.x0).field("y", pre.ink_box.y0);
    json.field("width", pre.ink_box.width()).field("height", pre.ink_box.height());
    json.end_object();
    const std::array<double, 2> center = center_of_mass(pre.input);
    json.key("center_of_mass").begin_array().value(center[0]).value(center[1]).end_array();
  }
  json.field("ink_fraction", pre.ink_fraction).field("specks_removed", pre.specks_removed);
  json.end_object();
}

}  // namespace

Reply error_reply(int status, std::string_view message) {
  JsonWriter json;
  json.begin_object().field("error", message).field("status", status).end_object();
  return {status, json.str()};
}

Reply predict_reply(const Predictor& predictor, std::span<const std::uint8_t> bytes,
                    const ImageLimits& limits) {
  const Clock::time_point start = Clock::now();
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
  const Clock::time_point decoded_at = Clock::now();
  Preprocessed pre;
  try {
    pre = preprocess_digit(decoded.gray);
  } catch (const Error& e) {
    return error_reply(422, concat("cannot preprocess the image: ", e.what()));
  }
  const Clock::time_point preprocessed_at = Clock::now();

  JsonWriter json;
  json.begin_object();
  if (!pre.found) {
    json.field("no_digit", true).field("reason", pre.reason).key("digit").null();
    json.key("probability").null();
    json.key("probabilities").begin_array().end_array();
    json.key("preprocessed").null();
    write_image_fields(json, decoded);
    write_preprocessing_fields(json, pre);
    json.key("milliseconds").begin_object();
    json.field("decode", milliseconds_between(start, decoded_at));
    json.field("preprocess", milliseconds_between(decoded_at, preprocessed_at));
    json.field("inference", 0.0).field("encode", 0.0);
    json.field("total", milliseconds_between(start, Clock::now()));
    json.end_object().end_object();
    return {200, json.str()};
  }

  const Prediction prediction = predictor.predict(pre.input);
  const Clock::time_point predicted_at = Clock::now();
  const std::vector<std::uint8_t> png = encode_png(input_to_image(pre.input));
  const std::string preprocessed_url = data_url("image/png", png);
  const Clock::time_point encoded_at = Clock::now();

  json.field("no_digit", false).field("digit", prediction.digit);
  json.field("probability", prediction.probabilities[prediction.digit]);
  json.key("probabilities").begin_array();
  for (float p : prediction.probabilities) json.value(p);
  json.end_array();
  json.key("top").begin_array();
  for (std::size_t d : prediction.top(3)) json.value(d);
  json.end_array();
  json.field("preprocessed", preprocessed_url);
  write_image_fields(json, decoded);
  write_preprocessing_fields(json, pre);
  json.key("milliseconds").begin_object();
  json.field("decode", milliseconds_between(start, decoded_at));
  json.field("preprocess", milliseconds_between(decoded_at, preprocessed_at));
  json.field("inference", milliseconds_between(preprocessed_at, predicted_at));
  json.field("encode", milliseconds_between(predicted_at, encoded_at));
  json.field("total", milliseconds_between(start, Clock::now()));
  json.end_object().end_object();
  return {200, json.str()};
}

std::string model_json(const ModelInfo& info) {
  JsonWriter json;
  json.begin_object();
  json.field("architecture", info.architecture());
  json.key("widths").begin_array();
  for (std::size_t width : info.widths) json.value(width);
  json.end_array();
  json.field("parameters", info.parameters).field("epoch", info.epoch);
  json.field("global_step", info.global_step).field("world_size", info.world_size);
  json.field("test_accuracy", info.test_accuracy).field("train_accuracy", info.train_accuracy);
  json.field("test_loss", info.test_loss).field("checkpoint", info.checkpoint);
  json.end_object();
  return json.str();
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
