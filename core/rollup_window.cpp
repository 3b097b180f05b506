#include "core/rollup_window.hpp"

#include <algorithm>

namespace failcat {

Micros RollupWindow::begin(Micros current_hour) const {
  if (from_ == 0) return current_hour - first_hours_ * kMicrosPerHour;
  return std::max(std::min(from_, current_hour - kMicrosPerHour),
                  current_hour - max_hours_ * kMicrosPerHour);
}

void RollupWindow::finish(bool ok, Micros current_hour, std::uint64_t acknowledged,
                          std::uint64_t stored) {
  if (from_ == 0) from_ = begin(current_hour);
  if (!ok) return;  // the same hours again next time, and the mark stays
  // The previous mark's failures were all stored before this run read the table: every hour
  // before that run's (previous) hour is complete.
  if (marked_ && stored >= mark_lsn_) from_ = std::max(from_, mark_from_);
  from_ = std::max(from_, current_hour - max_hours_ * kMicrosPerHour);
  marked_ = true;
  mark_lsn_ = acknowledged;
  mark_from_ = current_hour - kMicrosPerHour;
}

void RollupWindow::hold(Micros hour) {
  if (from_ == 0 || hour < from_) from_ = hour;
}

}  // namespace failcat
