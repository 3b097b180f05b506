#include "core/rollup_window.hpp"

#include <algorithm>

namespace failcat {
namespace {
constexpr std::size_t kMaxMarks = 7 * 24 * 60;
}  // namespace

Micros RollupWindow::begin(Micros current_hour) const {
  if (from_ == 0) return current_hour - first_hours_ * kMicrosPerHour;
  return std::max(std::min(from_, current_hour - kMicrosPerHour),
                  current_hour - max_hours_ * kMicrosPerHour);
}

void RollupWindow::finish(bool ok, Micros current_hour, std::uint64_t acknowledged,
                          std::uint64_t stored) {
  if (from_ == 0) from_ = begin(current_hour);
  if (!ok) return;  // the same hours again next time, and the marks stay
  // Positions that went back (memory mode counts afresh after a persister restart) make the
  // old marks meaningless; the next run's mark takes over.
  if (!marks_.empty() && acknowledged < marks_.back().first) marks_.clear();
  // A mark whose failures were all stored before this run read the table: every hour before
  // its run's previous hour is complete.
  while (!marks_.empty() && stored >= marks_.front().first) {
    from_ = std::max(from_, marks_.front().second);
    marks_.pop_front();
  }
  from_ = std::max(from_, current_hour - max_hours_ * kMicrosPerHour);
  // Bounded: a week of runs a minute apart. Dropping the oldest loses nothing, a later mark
  // covers it once reached.
  if (marks_.size() >= kMaxMarks) marks_.pop_front();
  marks_.emplace_back(acknowledged, current_hour - kMicrosPerHour);
}

void RollupWindow::hold(Micros hour) {
  if (from_ == 0 || hour < from_) from_ = hour;
}

}  // namespace failcat
