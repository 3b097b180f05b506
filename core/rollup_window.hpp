#pragma once

#include <cstdint>
#include <deque>
#include <utility>

#include "core/timestamp.hpp"

namespace failcat {

/// Which hours the aggregator's next rollup recomputes.
///
/// A run recomputes from the hour before the current one, and further back over every hour
/// whose rows may still have been on their way to the database when it was last recomputed:
/// acknowledged failures wait in the write-ahead log while the breaker is open, or only for
/// the few milliseconds of a batch. So each run marks how far the acknowledgements reached
/// (`acknowledged`, an LSN) before it rolled up; once a later run finds everything up to a mark
/// stored, the hours before the marking run's are final and the window moves up to them. Marks
/// wait in order, so a drain that lags by several runs still moves the window.
/// The first run reaches `first_hours` back; no run reaches further than `max_hours`.
class RollupWindow {
 public:
  RollupWindow(int first_hours, int max_hours) : first_hours_(first_hours), max_hours_(max_hours) {}

  /// The first hour the run at `current_hour` recomputes.
  Micros begin(Micros current_hour) const;
  /// After a run at `current_hour`. `acknowledged` and `stored` were read before the rollup
  /// (the LSN every acknowledged failure has, and the LSN up to which all are stored).
  void finish(bool ok, Micros current_hour, std::uint64_t acknowledged, std::uint64_t stored);
  /// Keeps `hour` in the window (its export failed, say) until a later run moves past it.
  void hold(Micros hour);

 private:
  int first_hours_;
  int max_hours_;
  Micros from_ = 0;                                     ///< 0 before the first run.
  std::deque<std::pair<std::uint64_t, Micros>> marks_;  ///< (LSN, first hour not yet final)
};

}  // namespace failcat
