#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/timestamp.hpp"

namespace failcat {

/// One row of `failure_matches`: the 23 columns of the design note, under their names.
/// Nullable columns are optionals; `context_json` holds serialized JSON text.
struct FailureRecord {
  std::string id;  ///< UUIDv7, lower case.
  std::string run_id;
  std::string tenant_id;
  std::string error_code;
  std::optional<std::string> error_message;
  std::optional<std::string> catalog_entry_id;
  std::optional<std::string> match_type;  ///< exact|prefix|pattern|fuzzy|miss
  std::optional<double> match_confidence;
  std::optional<std::string> category;
  std::optional<std::string> severity;
  bool is_retryable = false;
  std::optional<std::string> recovery_mode;
  std::optional<std::string> recovery_suggestion;
  bool recovery_attempted = false;
  bool recovery_succeeded = false;
  std::optional<Micros> recovered_at;
  std::optional<std::string> recovered_by;
  std::optional<std::string> recovery_notes;
  std::optional<std::string> skill_id;
  std::optional<std::int32_t> step_index;
  std::optional<std::string> context_json;
  Micros created_at = 0;
  Micros updated_at = 0;

  /// Not a column: the caller's idempotency key (header or `event_id`), stored beside the row
  /// so a retry finds the first answer, also after a restart.
  std::optional<std::string> idempotency_key;
  /// Not a column, never logged: when another failure owns `idempotency_key` already, the
  /// store skips this row (an import's de-duplication). Ingest leaves it false: its rows were
  /// answered with their own ids and are stored even when the key had an owner.
  bool skip_if_key_owned = false;

  bool operator==(const FailureRecord&) const;
};

/// A strong validator for a record's current version (`updated_at`), used for ETag/If-Match.
std::string record_etag(const FailureRecord& record);

/// An entry of the append-only recovery audit trail (`failure_recovery_events`).
struct RecoveryEvent {
  std::int64_t event_id = 0;
  std::string failure_id;
  std::string tenant_id;
  std::string actor;  ///< Who made the change (`recovered_by`, or the API key's name).
  bool old_attempted = false;
  bool old_succeeded = false;
  bool new_attempted = false;
  bool new_succeeded = false;
  std::optional<std::string> notes;
  Micros at = 0;
};

/// One hourly rollup row of `failure_aggregates`.
struct AggregateRow {
  Micros bucket_start = 0;  ///< Start of the UTC hour.
  std::string tenant_id;
  std::string error_code;
  std::string catalog_entry_id;  ///< Empty for misses.
  std::string category;          ///< Empty for misses.
  std::string match_type;
  std::int64_t failure_count = 0;
  std::int64_t recovered_count = 0;
  Micros updated_at = 0;
};

}  // namespace failcat
