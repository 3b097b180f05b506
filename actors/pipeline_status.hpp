#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/timestamp.hpp"

namespace failcat {

/// The breaker and WAL as the admin API shows them.
struct BreakerView {
  std::string state = "closed";  ///< closed | open | half_open
  std::string mode = "auto";     ///< auto | forced_open | forced_closed
  int consecutive_failures = 0;
  Micros last_transition = 0;  ///< Wall-clock time of the last state change (0: never).
  std::uint64_t transitions = 0;
  Micros probe_in = 0;  ///< While open: microseconds until the next probe.
  std::uint64_t wal_backlog_rows = 0;
  std::uint64_t wal_bytes = 0;
};

/// What a read or recovery change hears while the breaker isolates the database.
inline constexpr const char* kDatabaseIsolated =
    "the database is isolated: the circuit breaker is open";

/// Values of `PipelineStatus::breaker_mode`.
inline constexpr int kBreakerAuto = 0;
inline constexpr int kBreakerForcedOpen = 1;
inline constexpr int kBreakerForcedClosed = 2;

/// Facts the actors publish for readiness, the admin API and shutdown, readable from any
/// thread without a round trip.
class PipelineStatus {
 public:
  // Published by the persister.
  std::atomic<std::uint64_t> wal_bytes{0};
  std::atomic<std::uint64_t> wal_backlog_rows{0};
  std::atomic<std::uint64_t> pending_rows{0};  ///< Accepted, not yet stored.
  /// Positions (WAL LSNs, or counts in memory mode): every acknowledged failure is at or
  /// below `acknowledged_through`; all up to `stored_through` are in the database (or, in
  /// memory mode, dropped).
  std::atomic<std::uint64_t> acknowledged_through{0};
  std::atomic<std::uint64_t> stored_through{0};
  std::atomic<bool> wal_failed{false};
  std::atomic<bool> wal_full{false};
  std::atomic<bool> persister_ready{false};

  // Published by the breaker.
  std::atomic<int> breaker_state{0};            ///< 0 closed, 1 open, 2 half-open
  std::atomic<int> breaker_mode{kBreakerAuto};  ///< kBreaker*
  std::atomic<int> breaker_failures{0};
  std::atomic<Micros> breaker_last_transition{0};
  std::atomic<std::uint64_t> breaker_transitions{0};
  std::atomic<Micros> breaker_probe_in{0};
  std::atomic<Micros> breaker_probe_at{0};  ///< Steady time; `CircuitBreaker::probe_at`.

  // Set by the service.
  std::atomic<bool> shutting_down{false};
  std::atomic<std::int64_t> inflight{0};

  void set_store_error(std::string error) {
    std::lock_guard<std::mutex> lock(mutex_);
    store_error_ = std::move(error);
    has_store_error_ = !store_error_.empty();
  }
  /// Called after every successful database call; cheap when there is nothing to clear.
  void clear_store_error() {
    if (has_store_error_.load(std::memory_order_relaxed)) set_store_error({});
  }
  std::string store_error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return store_error_;
  }

  /// While the breaker keeps the database isolated nothing else touches it either (reads,
  /// recovery changes, the periodic jobs): forced open, or opened by failures and not yet due
  /// for its probe. Once a probe may go, readers try again too.
  bool database_isolated(Micros steady_now) const {
    if (breaker_state.load() != 1) return false;
    if (breaker_mode.load() == kBreakerForcedOpen) return true;
    return steady_now < breaker_probe_at.load();
  }

  BreakerView breaker_view() const {
    static constexpr const char* kStates[] = {"closed", "open", "half_open"};
    static constexpr const char* kModes[] = {"auto", "forced_open", "forced_closed"};
    BreakerView v;
    v.state = kStates[breaker_state.load() % 3];
    v.mode = kModes[breaker_mode.load() % 3];
    v.consecutive_failures = breaker_failures.load();
    v.last_transition = breaker_last_transition.load();
    v.transitions = breaker_transitions.load();
    v.probe_in = breaker_probe_in.load();
    v.wal_backlog_rows = wal_backlog_rows.load();
    v.wal_bytes = wal_bytes.load();
    return v;
  }

 private:
  mutable std::mutex mutex_;
  std::string store_error_;
  std::atomic<bool> has_store_error_{false};
};

}  // namespace failcat
