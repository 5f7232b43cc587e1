// The one way dpmnist times things: a steady-clock stopwatch, in seconds for
// training phases and milliseconds for serving. Only measures; summing,
// spreads over ranks and printing are the callers'.
#pragma once

#include <chrono>

namespace dpmnist {

class Stopwatch {
 public:
  // Time since construction or the last restart().
  double seconds() const { return std::chrono::duration<double>(elapsed()).count(); }
  double milliseconds() const {
    return std::chrono::duration<double, std::milli>(elapsed()).count();
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::duration elapsed() const {
    return std::chrono::steady_clock::now() - start_;
  }
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace dpmnist
