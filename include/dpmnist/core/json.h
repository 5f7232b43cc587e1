// JSON output, one library for every tool and the server: values are built as
// nlohmann::json and written by json_text (compact, one line; NaN and Inf as
// null; invalid UTF-8 bytes as U+FFFD, so any file name or message stays
// valid JSON). Nothing in dpmnist parses JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dpmnist {

using Json = nlohmann::ordered_json;  // keys in the order written

// value as one line of JSON text.
std::string json_text(const Json& value);

// A float as the double with the float's shortest decimal form, so 0.1f is
// written 0.1 rather than 0.10000000149011612; non-finite stays non-finite.
double json_float(float value);

}  // namespace dpmnist
