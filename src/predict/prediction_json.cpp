#include "dpmnist/predict/prediction_json.h"

#include <array>

namespace dpmnist {
namespace {

Json image_json(const DecodedImage& decoded) {
  return {{"width", decoded.gray.width},
          {"height", decoded.gray.height},
          {"format", decoded.format},
          {"channels", decoded.channels},
          {"alpha_background", alpha_background_name(decoded.alpha_background)}};
}

Json preprocessing_json(const Preprocessed& pre) {
  Json out = {{"inverted", pre.inverted},
              {"background", json_float(pre.background)},
              {"threshold", json_float(pre.threshold)}};
  if (pre.found) {
    out["ink_box"] = {{"x", pre.ink_box.x0},
                      {"y", pre.ink_box.y0},
                      {"width", pre.ink_box.width()},
                      {"height", pre.ink_box.height()}};
    const std::array<double, 2> center = center_of_mass(pre.input);
    out["center_of_mass"] = {center[0], center[1]};
  }
  out["ink_fraction"] = pre.ink_fraction;
  out["specks_removed"] = pre.specks_removed;
  return out;
}

}  // namespace

Json prediction_json(const DecodedImage& decoded, const Preprocessed& pre,
                     const Prediction* prediction, std::size_t top) {
  Json out;
  if (prediction == nullptr) {
    out = {{"no_digit", true},       {"reason", pre.reason},           {"digit", nullptr},
           {"probability", nullptr}, {"probabilities", Json::array()}, {"top", Json::array()}};
  } else {
    Json probabilities = Json::array();
    for (float p : prediction->probabilities) probabilities.push_back(json_float(p));
    out = {{"no_digit", false},
           {"digit", prediction->digit},
           {"probability", json_float(prediction->probabilities[prediction->digit])},
           {"probabilities", probabilities},
           {"top", prediction->top(top)}};
  }
  out["image"] = image_json(decoded);
  out["preprocessing"] = preprocessing_json(pre);
  return out;
}

Json milliseconds_json(const StageMilliseconds& ms) {
  return {{"decode", ms.decode},
          {"preprocess", ms.preprocess},
          {"inference", ms.inference},
          {"encode", ms.encode},
          {"total", ms.total}};
}

}  // namespace dpmnist
