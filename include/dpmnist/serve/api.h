// The JSON API without HTTP: what POST /api/predict, GET /api/model and
// GET /healthz answer, as a status code and a JSON body. server.h maps HTTP
// requests onto these; it does no image work itself, and these do no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dpmnist/predict/image.h"
#include "dpmnist/predict/predictor.h"

namespace dpmnist::serve {

struct Reply {
  int status = 200;
  std::string body;  // JSON
};

// {"error": message, "status": status}
Reply error_reply(int status, std::string_view message);

// bytes in (a whole image file). Decodes with `limits`, preprocesses to MNIST
// form and predicts. 200 with
//   {"digit", "probability", "probabilities"[10], "top"[3], "no_digit": false,
//    "preprocessed": "data:image/png;base64,..." (the 28x28 input the model saw),
//    "image": {width, height, format, channels, alpha_background},
//    "preprocessing": {inverted, background, threshold, ink_box, ink_fraction, specks_removed,
//                      center_of_mass},
//    "milliseconds": {decode, preprocess, inference, encode, total}}
// or, when there is no digit, 200 with "no_digit": true, "reason", "digit": null and
// empty "probabilities"; 400 for empty or undecodable bytes (the decoder's reason).
Reply predict_reply(const Predictor& predictor, std::span<const std::uint8_t> bytes,
                    const ImageLimits& limits);

// {"architecture", "widths", "parameters", "epoch", "global_step", "world_size",
//  "test_accuracy", "train_accuracy", "test_loss" (null when unknown), "checkpoint"}
std::string model_json(const ModelInfo& info);

// bytes as a data: URL of the given media type, base64 (RFC 4648).
std::string data_url(std::string_view media_type, std::span<const std::uint8_t> bytes);

}  // namespace dpmnist::serve
