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
  /// The alert was delivered at `now`: the cooldown starts. One not delivered fires again at
  /// the next evaluation.
  void delivered(Micros now) { last_fired_ = now; }

 private:
  MissRateAlertConfig config_;
  std::optional<Micros> last_fired_;
};

}  // namespace failcat
