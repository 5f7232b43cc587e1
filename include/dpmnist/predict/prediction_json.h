// One prediction as JSON, shared by dpmnist-predict --json and POST
// /api/predict so both name every field alike. Only the shape of the answer;
// the callers add where it came from ("file", "preprocessed") and timings.
#pragma once

#include <cstddef>

#include "dpmnist/core/json.h"
#include "dpmnist/predict/image.h"
#include "dpmnist/predict/predictor.h"
#include "dpmnist/predict/preprocess.h"

namespace dpmnist {

// {"no_digit": false, "digit", "probability", "probabilities"[10], "top"[top],
//  "image": {width, height, format, channels, alpha_background},
//  "preprocessing": {inverted, background, threshold, ink_box: {x, y, width, height},
//                    center_of_mass: [x, y], ink_fraction, specks_removed}}
// prediction is null when pre.found is false: then "no_digit": true, "reason",
// "digit" and "probability" null, "probabilities" and "top" empty (ink_box and
// center_of_mass only where ink was kept).
Json prediction_json(const DecodedImage& decoded, const Preprocessed& pre,
                     const Prediction* prediction, std::size_t top);

// {"decode", "preprocess", "inference", "encode", "total"}: milliseconds.
struct StageMilliseconds {
  double decode = 0, preprocess = 0, inference = 0, encode = 0, total = 0;
};
Json milliseconds_json(const StageMilliseconds& ms);

}  // namespace dpmnist
