#pragma once

#include <atomic>
#include <chrono>

#include "core/timestamp.hpp"

namespace failcat {

/// Wall-clock and monotonic time, injected so that breakers, timers and jobs can be tested
/// without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Wall-clock time (for stored timestamps).
  virtual Micros now() const = 0;
  /// Monotonic time (for timeouts and intervals); only differences are meaningful.
  virtual Micros steady() const = 0;
};

/// The real clocks.
class SystemClock final : public Clock {
 public:
  Micros now() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  Micros steady() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

/// A clock a test moves by hand; both readings advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Micros start = 1'767'225'600 * kMicrosPerSecond) : now_(start) {}
  Micros now() const override { return now_.load(); }
  Micros steady() const override { return now_.load(); }
  void advance(Micros by) { now_ += by; }
  void set(Micros t) { now_ = t; }

 private:
  std::atomic<Micros> now_;
};

}  // namespace failcat
