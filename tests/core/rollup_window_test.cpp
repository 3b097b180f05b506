#include "core/rollup_window.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

constexpr Micros kHour = kMicrosPerHour;
constexpr Micros kNoon = 1'000 * kHour;  // some whole hour

TEST(RollupWindow, TheFirstRunReachesBackItsFirstHours) {
  RollupWindow w(48, 168);
  EXPECT_EQ(w.begin(kNoon), kNoon - 48 * kHour);
}

TEST(RollupWindow, UnderSteadyLoadTheWindowStaysShort) {
  // Hourly runs. Failures are always on their way (acknowledged beyond what is stored), but
  // each run's mark is stored by the next run: the window moves up hour by hour.
  RollupWindow w(48, 168);
  std::uint64_t acked = 100;
  Micros hour = kNoon;
  w.finish(true, hour, acked, acked - 5);
  for (int run = 0; run < 10; ++run) {
    hour += kHour;
    const std::uint64_t stored = acked + 3;  // the previous mark is in, newer rows are not
    acked += 50;
    if (run > 0) {
      EXPECT_EQ(w.begin(hour), hour - 3 * kHour) << run;
    }
    w.finish(true, hour, acked, stored);
  }
  EXPECT_EQ(w.begin(hour + kHour), hour - 2 * kHour);
}

TEST(RollupWindow, HoursWhoseFailuresWaitedInTheLogAreRecomputedOnceStored) {
  RollupWindow w(48, 168);
  w.finish(true, kNoon, 100, 100);
  w.finish(true, kNoon + kHour, 100, 100);
  EXPECT_EQ(w.begin(kNoon + 2 * kHour), kNoon - kHour);
  // From 14:00 the database is away: acknowledgements reach 600, the table stays at 100.
  for (int h = 2; h <= 6; ++h) w.finish(true, kNoon + h * kHour, 100 + 100 * (h - 1), 100);
  EXPECT_EQ(w.begin(kNoon + 7 * kHour), kNoon);  // the outage's hours, every run
  // Back at 19:00: this run reads the table with all 600 stored and recomputes the outage's
  // hours; after it the window moves up.
  w.finish(true, kNoon + 7 * kHour, 620, 600);
  EXPECT_EQ(w.begin(kNoon + 8 * kHour), kNoon + 5 * kHour);
  w.finish(true, kNoon + 8 * kHour, 640, 620);
  EXPECT_EQ(w.begin(kNoon + 9 * kHour), kNoon + 6 * kHour);
}

TEST(RollupWindow, ADrainThatLagsSeveralRunsStillMovesTheWindow) {
  // Hourly runs; the table always holds what was acknowledged three runs earlier.
  RollupWindow w(48, 168);
  std::uint64_t acked[40];
  for (int run = 0; run < 40; ++run) {
    acked[run] = 100 * static_cast<std::uint64_t>(run + 1);
    const std::uint64_t stored = run >= 3 ? acked[run - 3] : 0;
    w.finish(true, kNoon + run * kHour, acked[run], stored);
  }
  // The run at 39 found run 36's mark stored: hours before 35 are final.
  EXPECT_EQ(w.begin(kNoon + 40 * kHour), kNoon + 35 * kHour);
}

TEST(RollupWindow, PositionsCountingAfreshDoNotHoldTheWindow) {
  RollupWindow w(48, 168);
  w.finish(true, kNoon, 5'000, 5'000);
  w.finish(true, kNoon + kHour, 6'000, 6'000);
  // A restarted memory-mode persister counts from 0 again.
  w.finish(true, kNoon + 2 * kHour, 10, 5);
  w.finish(true, kNoon + 3 * kHour, 20, 10);
  EXPECT_EQ(w.begin(kNoon + 4 * kHour), kNoon + kHour);
}

TEST(RollupWindow, AFailedRunMovesNothing) {
  RollupWindow w(48, 168);
  w.finish(true, kNoon, 10, 10);
  w.finish(true, kNoon + kHour, 20, 20);
  const Micros before = w.begin(kNoon + 2 * kHour);
  w.finish(false, kNoon + 2 * kHour, 30, 30);
  EXPECT_EQ(w.begin(kNoon + 3 * kHour), before);
}

TEST(RollupWindow, AHeldHourStaysInTheWindow) {
  RollupWindow w(48, 168);
  w.finish(true, kNoon, 10, 10);
  w.finish(true, kNoon + kHour, 20, 20);
  w.finish(true, kNoon + 2 * kHour, 30, 30);
  ASSERT_EQ(w.begin(kNoon + 3 * kHour), kNoon);
  w.hold(kNoon - 5 * kHour);  // say, that hour's export failed
  EXPECT_EQ(w.begin(kNoon + 3 * kHour), kNoon - 5 * kHour);
}

TEST(RollupWindow, NeverReachesBackFurtherThanItsBound) {
  RollupWindow w(48, 168);
  w.finish(false, kNoon, 0, 0);
  EXPECT_EQ(w.begin(kNoon + 500 * kHour), kNoon + 500 * kHour - 168 * kHour);
}

}  // namespace
}  // namespace failcat
