#include "core/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace failcat {
namespace {

using State = BreakerState;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreakerTest()
      : breaker_(clock_, CircuitBreakerConfig{},
                 [this](State from, State to) { transitions_.emplace_back(from, to); }) {}

  void fail_times(int n, FailureKind kind = FailureKind::error) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(breaker_.allow_request());
      breaker_.record_failure(kind);
    }
  }

  void open_breaker() {
    fail_times(5);
    ASSERT_EQ(breaker_.state(), State::open);
  }

  ManualClock clock_;
  std::vector<std::pair<State, State>> transitions_;
  CircuitBreaker breaker_;
};

TEST_F(CircuitBreakerTest, StartsClosedAndAllowsRequests) {
  EXPECT_EQ(breaker_.state(), State::closed);
  EXPECT_EQ(breaker_.mode(), BreakerMode::automatic);
  EXPECT_TRUE(breaker_.allow_request());
  EXPECT_TRUE(breaker_.allow_request());
  EXPECT_TRUE(transitions_.empty());
}

TEST_F(CircuitBreakerTest, OpensOnFifthConsecutiveFailure) {
  fail_times(4);
  EXPECT_EQ(breaker_.state(), State::closed);
  EXPECT_EQ(breaker_.snapshot().consecutive_failures, 4);
  fail_times(1);
  EXPECT_EQ(breaker_.state(), State::open);
  EXPECT_FALSE(breaker_.allow_request());
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_EQ(transitions_[0], std::make_pair(State::closed, State::open));
}

TEST_F(CircuitBreakerTest, SuccessResetsTheConsecutiveCount) {
  fail_times(4);
  ASSERT_TRUE(breaker_.allow_request());
  breaker_.record_success();
  EXPECT_EQ(breaker_.snapshot().consecutive_failures, 0);
  fail_times(4);
  EXPECT_EQ(breaker_.state(), State::closed);
  fail_times(1);
  EXPECT_EQ(breaker_.state(), State::open);
}

TEST_F(CircuitBreakerTest, TimeoutsCountAsFailures) {
  fail_times(2, FailureKind::timeout);
  fail_times(2, FailureKind::error);
  EXPECT_EQ(breaker_.state(), State::closed);
  fail_times(1, FailureKind::timeout);
  EXPECT_EQ(breaker_.state(), State::open);
}

TEST_F(CircuitBreakerTest, StaysOpenUntilResetTimeoutElapses) {
  open_breaker();
  EXPECT_EQ(breaker_.time_until_probe(), 60 * kMicrosPerSecond);
  clock_.advance(60 * kMicrosPerSecond - 1);
  EXPECT_FALSE(breaker_.allow_request());
  EXPECT_EQ(breaker_.state(), State::open);
  EXPECT_EQ(breaker_.time_until_probe(), 1);
  clock_.advance(1);
  EXPECT_EQ(breaker_.time_until_probe(), 0);
  EXPECT_TRUE(breaker_.allow_request());
  EXPECT_EQ(breaker_.state(), State::half_open);
}

TEST_F(CircuitBreakerTest, ProbeAtIsWhenTheOpenBreakerLetsAProbeThrough) {
  EXPECT_EQ(breaker_.probe_at(), 0);
  open_breaker();
  const Micros opened = clock_.steady();
  EXPECT_EQ(breaker_.probe_at(), opened + 60 * kMicrosPerSecond);
  clock_.advance(60 * kMicrosPerSecond);
  ASSERT_TRUE(breaker_.allow_request());  // half-open: no longer open
  EXPECT_EQ(breaker_.probe_at(), 0);
  breaker_.force_open();
  EXPECT_EQ(breaker_.probe_at(), 0);  // an operator decides, not the clock
}

TEST_F(CircuitBreakerTest, HalfOpenAllowsExactlyOneProbe) {
  open_breaker();
  clock_.advance(60 * kMicrosPerSecond);
  EXPECT_TRUE(breaker_.allow_request());
  EXPECT_TRUE(breaker_.snapshot().probe_in_flight);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(breaker_.allow_request());
  clock_.advance(600 * kMicrosPerSecond);
  EXPECT_FALSE(breaker_.allow_request());
  EXPECT_EQ(breaker_.state(), State::half_open);
}

TEST_F(CircuitBreakerTest, ProbeSuccessCloses) {
  open_breaker();
  clock_.advance(60 * kMicrosPerSecond);
  ASSERT_TRUE(breaker_.allow_request());
  breaker_.record_success();
  EXPECT_EQ(breaker_.state(), State::closed);
  EXPECT_EQ(breaker_.snapshot().consecutive_failures, 0);
  EXPECT_TRUE(breaker_.allow_request());
  EXPECT_TRUE(breaker_.allow_request());
  const std::vector<std::pair<State, State>> expected = {{State::closed, State::open},
                                                         {State::open, State::half_open},
                                                         {State::half_open, State::closed}};
  EXPECT_EQ(transitions_, expected);
  EXPECT_EQ(breaker_.snapshot().transitions, 3u);
}

TEST_F(CircuitBreakerTest, ProbeFailureReopensAndRestartsTheTimer) {
  open_breaker();
  clock_.advance(60 * kMicrosPerSecond);
  ASSERT_TRUE(breaker_.allow_request());
  clock_.advance(2 * kMicrosPerSecond);  // the probe ran into its timeout
  breaker_.record_failure(FailureKind::timeout);
  EXPECT_EQ(breaker_.state(), State::open);
  EXPECT_EQ(breaker_.snapshot().last_transition_steady, clock_.steady());
  clock_.advance(59 * kMicrosPerSecond);
  EXPECT_FALSE(breaker_.allow_request());
  clock_.advance(1 * kMicrosPerSecond);
  EXPECT_TRUE(breaker_.allow_request());
  EXPECT_EQ(breaker_.state(), State::half_open);
  EXPECT_EQ(transitions_.back(), std::make_pair(State::open, State::half_open));
  EXPECT_EQ(transitions_[2], std::make_pair(State::half_open, State::open));
}

TEST_F(CircuitBreakerTest, LateOutcomesWhileOpenAreIgnored) {
  open_breaker();
  const Micros opened = breaker_.snapshot().last_transition_steady;
  clock_.advance(10 * kMicrosPerSecond);
  breaker_.record_success();
  EXPECT_EQ(breaker_.state(), State::open);
  breaker_.record_failure();
  clock_.advance(50 * kMicrosPerSecond);
  EXPECT_EQ(breaker_.snapshot().probe_at_steady, opened + 60 * kMicrosPerSecond);
  EXPECT_TRUE(breaker_.allow_request());
}

TEST_F(CircuitBreakerTest, ForcedOpenHoldsRegardlessOfOutcomes) {
  breaker_.force_open();
  EXPECT_EQ(breaker_.state(), State::open);
  EXPECT_EQ(breaker_.mode(), BreakerMode::forced_open);
  clock_.advance(3600 * kMicrosPerSecond);
  EXPECT_FALSE(breaker_.allow_request());
  breaker_.record_success();
  EXPECT_EQ(breaker_.state(), State::open);
  EXPECT_EQ(breaker_.time_until_probe(), 0);
  EXPECT_EQ(transitions_.size(), 1u);
}

TEST_F(CircuitBreakerTest, ForcedClosedHoldsRegardlessOfOutcomes) {
  breaker_.force_closed();
  EXPECT_EQ(breaker_.mode(), BreakerMode::forced_closed);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(breaker_.allow_request());
    breaker_.record_failure();
  }
  EXPECT_EQ(breaker_.state(), State::closed);
  EXPECT_EQ(breaker_.snapshot().consecutive_failures, 20);
  EXPECT_TRUE(transitions_.empty());
}

TEST_F(CircuitBreakerTest, ForceClosedFromOpenThenAutoCountsAfresh) {
  open_breaker();
  breaker_.force_closed();
  EXPECT_EQ(breaker_.state(), State::closed);
  breaker_.set_auto();
  EXPECT_EQ(breaker_.mode(), BreakerMode::automatic);
  EXPECT_EQ(breaker_.state(), State::closed);
  EXPECT_EQ(breaker_.snapshot().consecutive_failures, 0);
  fail_times(4);
  EXPECT_EQ(breaker_.state(), State::closed);
  fail_times(1);
  EXPECT_EQ(breaker_.state(), State::open);
  const std::vector<std::pair<State, State>> expected = {
      {State::closed, State::open}, {State::open, State::closed}, {State::closed, State::open}};
  EXPECT_EQ(transitions_, expected);
}

TEST_F(CircuitBreakerTest, AutoAfterForcedOpenProbesAtOnce) {
  breaker_.force_open();
  breaker_.set_auto();
  EXPECT_EQ(breaker_.state(), State::half_open);
  EXPECT_TRUE(breaker_.allow_request());
  EXPECT_FALSE(breaker_.allow_request());
  breaker_.record_success();
  EXPECT_EQ(breaker_.state(), State::closed);
  const std::vector<std::pair<State, State>> expected = {{State::closed, State::open},
                                                         {State::open, State::half_open},
                                                         {State::half_open, State::closed}};
  EXPECT_EQ(transitions_, expected);
}

TEST_F(CircuitBreakerTest, AutoAfterForcedOpenFailedProbeReopens) {
  breaker_.force_open();
  breaker_.set_auto();
  ASSERT_TRUE(breaker_.allow_request());
  breaker_.record_failure();
  EXPECT_EQ(breaker_.state(), State::open);
  EXPECT_EQ(breaker_.time_until_probe(), 60 * kMicrosPerSecond);
}

TEST_F(CircuitBreakerTest, SetAutoInAutoModeChangesNothing) {
  fail_times(3);
  breaker_.set_auto();
  EXPECT_EQ(breaker_.snapshot().consecutive_failures, 3);
  EXPECT_TRUE(transitions_.empty());
}

TEST_F(CircuitBreakerTest, SnapshotRecordsLastTransitionTimes) {
  const Micros wall = clock_.now();
  clock_.advance(5 * kMicrosPerSecond);
  open_breaker();
  const BreakerSnapshot s = breaker_.snapshot();
  EXPECT_EQ(s.state, State::open);
  EXPECT_EQ(s.mode, BreakerMode::automatic);
  EXPECT_EQ(s.consecutive_failures, 5);
  EXPECT_EQ(s.last_transition_wall, wall + 5 * kMicrosPerSecond);
  EXPECT_EQ(s.last_transition_steady, clock_.steady());
  EXPECT_EQ(s.transitions, 1u);
}

TEST(CircuitBreaker, HonoursConfiguredFigures) {
  ManualClock clock;
  CircuitBreaker breaker(clock, CircuitBreakerConfig{2, 100, 10});
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), State::closed);
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), State::open);
  clock.advance(100);
  EXPECT_TRUE(breaker.allow_request());
}

TEST(CircuitBreaker, CallbackCanBeSetLater) {
  ManualClock clock;
  CircuitBreaker breaker(clock, CircuitBreakerConfig{1, 100, 10});
  int calls = 0;
  breaker.set_transition_callback([&calls](State, State) { ++calls; });
  breaker.record_failure();
  EXPECT_EQ(calls, 1);
}

TEST(CircuitBreaker, TakingOverReportsNoTransition) {
  ManualClock clock;
  int calls = 0;
  CircuitBreaker held(clock, CircuitBreakerConfig{}, [&](State, State) { ++calls; });
  const Micros last = clock.now() - 5 * kMicrosPerSecond;
  held.take_over(BreakerMode::forced_open, true, 7, last);
  EXPECT_EQ(held.snapshot().last_transition_wall, last);  // not the restart's time
  EXPECT_EQ(held.state(), State::open);
  EXPECT_EQ(held.mode(), BreakerMode::forced_open);
  EXPECT_EQ(held.snapshot().transitions, 7u);
  EXPECT_EQ(calls, 0);
  held.set_auto();  // later changes are reported and counted again
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(held.snapshot().transitions, 8u);

  CircuitBreaker open(clock, CircuitBreakerConfig{}, [&](State, State) { ++calls; });
  open.take_over(BreakerMode::automatic, true, 3, clock.now());
  EXPECT_EQ(open.state(), State::open);
  EXPECT_FALSE(open.allow_request());  // the reset timeout runs from now
  EXPECT_EQ(open.snapshot().transitions, 3u);

  CircuitBreaker closed(clock, CircuitBreakerConfig{}, [&](State, State) { ++calls; });
  closed.take_over(BreakerMode::automatic, false, 0, 0);
  EXPECT_EQ(closed.state(), State::closed);
  EXPECT_EQ(calls, 1);
}

TEST(CircuitBreaker, NamesStatesAndModes) {
  EXPECT_EQ(to_string(State::closed), "closed");
  EXPECT_EQ(to_string(State::open), "open");
  EXPECT_EQ(to_string(State::half_open), "half_open");
  EXPECT_EQ(to_string(BreakerMode::automatic), "auto");
  EXPECT_EQ(to_string(BreakerMode::forced_open), "forced_open");
  EXPECT_EQ(to_string(BreakerMode::forced_closed), "forced_closed");
}

}  // namespace
}  // namespace failcat
