#include "core/circuit_breaker.hpp"

#include <algorithm>
#include <utility>

namespace failcat {

std::string_view to_string(BreakerState state) {
  switch (state) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::open:
      return "open";
    case BreakerState::half_open:
      return "half_open";
  }
  return "unknown";
}

std::string_view to_string(BreakerMode mode) {
  switch (mode) {
    case BreakerMode::automatic:
      return "auto";
    case BreakerMode::forced_open:
      return "forced_open";
    case BreakerMode::forced_closed:
      return "forced_closed";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(const Clock& clock, CircuitBreakerConfig config,
                               TransitionCallback on_transition)
    : clock_(clock),
      config_(config),
      on_transition_(std::move(on_transition)),
      last_transition_steady_(clock.steady()),
      last_transition_wall_(clock.now()) {
  if (config_.failure_threshold < 1) config_.failure_threshold = 1;
  if (config_.reset_timeout < 0) config_.reset_timeout = 0;
}

bool CircuitBreaker::allow_request() {
  switch (mode_) {
    case BreakerMode::forced_open:
      return false;
    case BreakerMode::forced_closed:
      return true;
    case BreakerMode::automatic:
      break;
  }
  switch (state_) {
    case State::closed:
      return true;
    case State::open:
      if (clock_.steady() - opened_at_ < config_.reset_timeout) return false;
      transition(State::half_open);
      probe_in_flight_ = true;
      return true;
    case State::half_open:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::record_success() {
  if (mode_ != BreakerMode::automatic) {
    consecutive_failures_ = 0;
    return;
  }
  switch (state_) {
    case State::closed:
      consecutive_failures_ = 0;
      break;
    case State::half_open:
      if (probe_in_flight_) {
        consecutive_failures_ = 0;
        probe_in_flight_ = false;
        transition(State::closed);
      }
      break;
    case State::open:
      break;
  }
}

void CircuitBreaker::record_failure(FailureKind /*kind*/) {
  if (mode_ != BreakerMode::automatic) {
    ++consecutive_failures_;  // shown in the snapshot; forced states ignore it
    return;
  }
  switch (state_) {
    case State::closed:
      if (++consecutive_failures_ >= config_.failure_threshold) open_now();
      break;
    case State::half_open:
      if (probe_in_flight_) {
        ++consecutive_failures_;
        probe_in_flight_ = false;
        open_now();
      }
      break;
    case State::open:
      break;
  }
}

void CircuitBreaker::force_open() {
  mode_ = BreakerMode::forced_open;
  probe_in_flight_ = false;
  if (state_ != State::open) {
    opened_at_ = clock_.steady();
    transition(State::open);
  }
}

void CircuitBreaker::force_closed() {
  mode_ = BreakerMode::forced_closed;
  probe_in_flight_ = false;
  if (state_ != State::closed) transition(State::closed);
}

void CircuitBreaker::set_auto() {
  const BreakerMode previous = mode_;
  mode_ = BreakerMode::automatic;
  if (previous == BreakerMode::automatic) return;
  probe_in_flight_ = false;
  if (previous == BreakerMode::forced_closed) {
    consecutive_failures_ = 0;
    return;
  }
  // NOTE: an operator who hands control back after isolating the database has usually fixed
  // it; probing at once beats waiting a full reset_timeout, and one failed probe re-opens.
  transition(State::half_open);
}

BreakerSnapshot CircuitBreaker::snapshot() const {
  BreakerSnapshot s;
  s.state = state_;
  s.mode = mode_;
  s.consecutive_failures = consecutive_failures_;
  s.probe_in_flight = probe_in_flight_;
  s.last_transition_steady = last_transition_steady_;
  s.last_transition_wall = last_transition_wall_;
  s.transitions = transitions_;
  if (mode_ == BreakerMode::automatic && state_ == State::open) {
    s.probe_at_steady = opened_at_ + config_.reset_timeout;
  }
  return s;
}

Micros CircuitBreaker::time_until_probe() const {
  if (mode_ != BreakerMode::automatic || state_ != State::open) return 0;
  const Micros left = opened_at_ + config_.reset_timeout - clock_.steady();
  return left > 0 ? left : 0;
}

Micros CircuitBreaker::probe_at() const {
  if (mode_ != BreakerMode::automatic || state_ != State::open) return 0;
  return opened_at_ + config_.reset_timeout;
}

void CircuitBreaker::set_transition_callback(TransitionCallback on_transition) {
  on_transition_ = std::move(on_transition);
}

void CircuitBreaker::take_over(BreakerMode mode, bool was_open, std::uint64_t transitions,
                               Micros last_transition_wall) {
  auto on_transition = std::move(on_transition_);
  on_transition_ = nullptr;
  if (mode == BreakerMode::forced_open) {
    force_open();
  } else if (mode == BreakerMode::forced_closed) {
    force_closed();
  } else if (was_open) {
    probe_in_flight_ = false;
    if (state_ != State::open) open_now();
  }
  transitions_ = transitions;
  if (last_transition_wall != 0) {
    last_transition_wall_ = last_transition_wall;
    last_transition_steady_ =
        clock_.steady() - std::max<Micros>(0, clock_.now() - last_transition_wall);
  }
  on_transition_ = std::move(on_transition);
}

void CircuitBreaker::open_now() {
  opened_at_ = clock_.steady();
  transition(State::open);
}

void CircuitBreaker::transition(State to) {
  const State from = state_;
  if (from == to) return;
  state_ = to;
  last_transition_steady_ = clock_.steady();
  last_transition_wall_ = clock_.now();
  ++transitions_;
  if (on_transition_) on_transition_(from, to);
}

}  // namespace failcat
