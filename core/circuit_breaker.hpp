#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "core/clock.hpp"

namespace failcat {

/// Where the breaker stands. `closed`: requests flow; `open`: the database is not touched;
/// `half_open`: one probe is allowed to find out whether the database is back.
enum class BreakerState { closed, open, half_open };

/// Who decides the state: the failure counting (`automatic`) or an operator.
enum class BreakerMode { automatic, forced_open, forced_closed };

/// How a persist attempt failed. Both count the same; the kind exists for logs and metrics.
enum class FailureKind { error, timeout };

/// `closed`, `open`, `half_open` (the names used by the admin API and metrics).
std::string_view to_string(BreakerState state);
/// `auto`, `forced_open`, `forced_closed`.
std::string_view to_string(BreakerMode mode);

/// The breaker's figures; the defaults are the design note's.
struct CircuitBreakerConfig {
  /// Consecutive failed or timed-out persists that open the breaker.
  int failure_threshold = 5;
  /// How long the breaker stays open before it lets one probe through.
  Micros reset_timeout = 60 * kMicrosPerSecond;
  /// The deadline of one persist. The breaker does not time anything itself: the caller
  /// enforces it and reports an overrun as `record_failure(FailureKind::timeout)`.
  Micros persist_timeout = 2 * kMicrosPerSecond;
};

/// A point-in-time view of the breaker for the admin API and metrics.
struct BreakerSnapshot {
  BreakerState state = BreakerState::closed;
  BreakerMode mode = BreakerMode::automatic;
  int consecutive_failures = 0;
  bool probe_in_flight = false;
  Micros last_transition_steady = 0;  ///< Clock::steady() of the last state change.
  Micros last_transition_wall = 0;    ///< Clock::now() of the last state change.
  std::uint64_t transitions = 0;      ///< State changes since construction.
  /// While open (automatic): steady time from which `allow_request()` lets a probe through.
  Micros probe_at_steady = 0;
};

/// The persist circuit breaker: a plain state machine over an injected clock.
///
/// The caller asks `allow_request()` before every persist attempt and reports its outcome
/// with `record_success()` or `record_failure()`. In automatic mode the breaker opens on the
/// `failure_threshold`-th consecutive failure (a success resets the count); once open it
/// refuses requests until `reset_timeout` has passed since it opened, then goes half-open and
/// admits exactly one probe. The probe's success closes it; its failure re-opens it and
/// restarts the timer. Outcomes that arrive while open, or in half-open without a probe out,
/// belong to requests admitted earlier and are ignored.
///
/// Not thread-safe: one owner (the breaker actor) serialises all calls.
class CircuitBreaker {
 public:
  using State = BreakerState;
  /// Called after every state change, with the old and the new state.
  using TransitionCallback = std::function<void(State from, State to)>;

  explicit CircuitBreaker(const Clock& clock, CircuitBreakerConfig config = {},
                          TransitionCallback on_transition = {});

  /// True when a persist may be attempted now. In half-open this admits the single probe
  /// (and so changes state); while a probe is out it answers false.
  bool allow_request();

  /// The attempt admitted last stored its rows.
  void record_success();
  /// The attempt failed or overran `persist_timeout`.
  void record_failure(FailureKind kind = FailureKind::error);

  /// Operator override: hold the breaker open (nothing is admitted) until `set_auto()`.
  void force_open();
  /// Operator override: hold the breaker closed (everything is admitted) until `set_auto()`.
  void force_closed();
  /// Gives control back to failure counting. From forced-open the breaker goes half-open, so
  /// the next request probes the database at once; from forced-closed it stays closed with
  /// the failure count cleared.
  void set_auto();
  /// Takes over from a breaker that was replaced (a restarted actor): its mode (an operator's
  /// hold), whether it was open (the reset timeout runs from now), its transition count and
  /// when its last transition was (wall clock; 0: none). Nothing changed state, so no
  /// transition is counted or reported.
  void take_over(BreakerMode mode, bool was_open, std::uint64_t transitions,
                 Micros last_transition_wall);

  State state() const { return state_; }
  BreakerMode mode() const { return mode_; }
  BreakerSnapshot snapshot() const;
  const CircuitBreakerConfig& config() const { return config_; }

  /// Microseconds until an open breaker lets a probe through (0 when one may go now or the
  /// breaker is not open in automatic mode). A caller schedules its retry timer with it.
  Micros time_until_probe() const;
  /// The steady time from which an open breaker in automatic mode lets a probe through (0
  /// when it is not open in automatic mode): what readers compare the clock with.
  Micros probe_at() const;

  void set_transition_callback(TransitionCallback on_transition);

 private:
  void transition(State to);
  void open_now();

  const Clock& clock_;
  CircuitBreakerConfig config_;
  TransitionCallback on_transition_;
  State state_ = State::closed;
  BreakerMode mode_ = BreakerMode::automatic;
  int consecutive_failures_ = 0;
  bool probe_in_flight_ = false;
  Micros opened_at_ = 0;
  Micros last_transition_steady_;
  Micros last_transition_wall_;
  std::uint64_t transitions_ = 0;
};

}  // namespace failcat
