#include "dpmnist/core/number.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <type_traits>

#include "dpmnist/core/error.h"

namespace dpmnist {
namespace {

template <class T>
std::string show(T value) {
  if constexpr (std::is_floating_point_v<T>) {
    if (value == std::numeric_limits<T>::max()) return "inf";
    if (value == std::numeric_limits<T>::lowest()) return "-inf";
  }
  std::ostringstream out;
  out << +value;
  return out.str();
}

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

template <class T>
std::string Allowed<T>::describe() const {
  const std::string kind = std::is_integral_v<T> ? "an integer" : "a number";
  const bool no_high = high == std::numeric_limits<T>::max() && !high_open;
  // An unsigned type's lowest, 0, is still said: it is what "-1" breaks.
  const bool no_low = std::is_signed_v<T> && low == std::numeric_limits<T>::lowest() && !low_open;
  if (no_high && no_low) return kind;
  if (no_high) return concat(kind, low_open ? " > " : " >= ", show(low));
  if (no_low) return concat(kind, high_open ? " < " : " <= ", show(high));
  return concat(kind, " in ", low_open ? "(" : "[", show(low), ", ", show(high),
                high_open ? ")" : "]");
}

template <class T>
T parse_number(std::string_view key, std::string_view text, const Allowed<T>& allowed) {
  const std::string_view digits = trimmed(text);
  T value{};
  const char* end = digits.data() + digits.size();
  // from_chars reads no leading '+'; a leading '-' for an unsigned type is
  // an error there (strtoul and Boost would wrap it around instead).
  const std::string_view body = !digits.empty() && digits[0] == '+' ? digits.substr(1) : digits;
  const auto [stop, error] = std::from_chars(body.data(), end, value);
  bool ok = !body.empty() && error == std::errc() && stop == end;
  if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(value);
  require(ok && allowed.admits(value), key, " = '", text, "': expected ", allowed.describe(),
          error == std::errc::result_out_of_range ? " (out of range)" : "");
  return value;
}

#define DPMNIST_NUMBER(T)     \
  template struct Allowed<T>; \
  template T parse_number<T>(std::string_view, std::string_view, const Allowed<T>&);
DPMNIST_NUMBER(int)
DPMNIST_NUMBER(long)
DPMNIST_NUMBER(long long)
DPMNIST_NUMBER(unsigned)
DPMNIST_NUMBER(unsigned long)
DPMNIST_NUMBER(unsigned long long)
DPMNIST_NUMBER(float)
DPMNIST_NUMBER(double)
#undef DPMNIST_NUMBER

}  // namespace dpmnist
