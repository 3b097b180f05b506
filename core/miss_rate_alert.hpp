#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/failure_query.hpp"
#include "core/timestamp.hpp"

namespace failcat {

struct MissRateAlertConfig {
  double threshold = 0.3;                        ///< Fire when missed / total reaches this.
  std::int64_t min_failures = 20;                ///< ... over at least this many failures.
  Micros cooldown = 15 * 60 * kMicrosPerSecond;  ///< Quiet time after a firing.
};

/// Decides when the catalog's miss rate deserves a notification, with a cooldown so a
/// sustained problem notifies once per period. Not thread-safe.
class MissRateAlert {
 public:
  explicit MissRateAlert(MissRateAlertConfig config = {}) : config_(config) {}

  /// A Slack-compatible JSON body (`{"text": …}`) when the alert fires at `now` for these
  /// stats (covering `window_hours`), or nullopt. Values from failures are escaped for Slack's
  /// markup, so an error code cannot mention a channel or disguise a link.
  std::optional<std::string> evaluate(const FailureStats& stats, int window_hours,
                                      Micros now) const;
  /// The alert was delivered at `now`: the cooldown starts.
  void delivered(Micros now) {
    last_fired_ = now;
    failed_deliveries_ = 0;
    retry_at_.reset();
  }
  /// The webhook did not take it at `now`: it fires again after a minute, then after twice as
  /// long each time, at most the cooldown (a receiver that is down is not called every run).
  void not_delivered(Micros now);

 private:
  MissRateAlertConfig config_;
  std::optional<Micros> last_fired_;
  int failed_deliveries_ = 0;
  std::optional<Micros> retry_at_;
};

}  // namespace failcat
