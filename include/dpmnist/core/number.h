// Numbers read from text (command lines, INI files, the environment) with the
// range they may take. "-1" for a count, "12abc", "nan", values beyond the type
// and values outside the range are refused with an Error naming the key, the
// text and the range, before anything runs. No defaults, no I/O.
#pragma once

#include <limits>
#include <string>
#include <string_view>

namespace dpmnist {

template <class T>
struct Allowed {
  T low = std::numeric_limits<T>::lowest();
  T high = std::numeric_limits<T>::max();
  bool low_open = false;   // (low, ... rather than [low, ...
  bool high_open = false;  // ..., high) rather than ..., high]

  bool admits(T value) const {
    return (low_open ? value > low : value >= low) && (high_open ? value < high : value <= high);
  }
  // e.g. "an integer >= 1", "a number in [0, 1)", "a number > 0".
  std::string describe() const;
};

template <class T>
constexpr Allowed<T> at_least(T low) {
  return {low, std::numeric_limits<T>::max(), false, false};
}
template <class T>
constexpr Allowed<T> above(T low) {
  return {low, std::numeric_limits<T>::max(), true, false};
}
template <class T>
constexpr Allowed<T> between(T low, T high) {  // [low, high]
  return {low, high, false, false};
}
template <class T>
constexpr Allowed<T> from_below(T low, T high) {  // [low, high)
  return {low, high, false, true};
}

// The whole of text (surrounding spaces aside) as a T within allowed:
// integers in decimal, floating point as std::from_chars reads it (finite).
// Throws Error "KEY = 'TEXT': expected ALLOWED".
template <class T>
T parse_number(std::string_view key, std::string_view text, const Allowed<T>& allowed);

}  // namespace dpmnist
