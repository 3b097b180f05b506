#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/clock.hpp"

namespace failcat {

/// When the persister writes a batch to the database.
struct BatchPolicyConfig {
  std::size_t max_rows = 500;        ///< Flush as soon as this many rows are pending.
  std::size_t max_bytes = 4u << 20;  ///< ... or this many payload bytes.
  Micros max_age = 5'000;            ///< ... or the oldest pending row is this old.
};

/// Decides when pending rows are flushed: a full batch by rows or bytes, or a partial one
/// once its oldest row has waited `max_age`. Times come from `Clock::steady()`.
/// Not thread-safe: the owning actor serialises calls.
class BatchPolicy {
 public:
  explicit BatchPolicy(const Clock& clock, BatchPolicyConfig config = {});

  /// One row of `bytes` became pending (its arrival time is the clock's now).
  void on_add(std::size_t bytes);
  /// `rows` rows of `bytes` became pending at once.
  void on_add(std::size_t rows, std::size_t bytes);

  /// True when pending rows should be flushed at `now` (steady micros).
  bool should_flush(Micros now) const;
  bool should_flush() const { return should_flush(clock_.steady()); }

  /// Steady time at which the age limit forces a flush; nullopt when nothing is pending.
  /// An actor arms its timer with it.
  std::optional<Micros> next_deadline() const;

  /// Everything pending was flushed.
  void on_flush();
  /// Only `rows` rows of `bytes` were flushed (a batch capped at `max_rows`). The rest keep
  /// the old arrival time: they are at least as overdue as the rows that just went.
  void on_flush(std::size_t rows, std::size_t bytes);

  std::size_t pending_rows() const { return rows_; }
  std::size_t pending_bytes() const { return bytes_; }
  bool empty() const { return rows_ == 0; }
  const BatchPolicyConfig& config() const { return config_; }

 private:
  const Clock& clock_;
  BatchPolicyConfig config_;
  std::size_t rows_ = 0;
  std::size_t bytes_ = 0;
  Micros oldest_ = 0;
};

}  // namespace failcat
