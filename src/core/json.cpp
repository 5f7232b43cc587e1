#include "dpmnist/core/json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace dpmnist {

std::string json_text(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

double json_float(float value) {
  if (!std::isfinite(value)) return static_cast<double>(value);
  char text[32];
  const auto [end, error] = std::to_chars(text, text + sizeof text - 1, value);
  if (error != std::errc()) return static_cast<double>(value);
  *end = '\0';
  return std::strtod(text, nullptr);
}

}  // namespace dpmnist
