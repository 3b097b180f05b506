#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/failure_query.hpp"
#include "core/json_guard.hpp"
#include "core/result.hpp"
#include "core/timestamp.hpp"

namespace failcat {

/// Deepest nesting of arrays and objects a request body may have.
inline constexpr std::size_t kMaxJsonDepth = 64;
/// Most failures one `POST /failures/batch` may carry.
inline constexpr std::size_t kMaxBatchItems = 1000;
/// Longest `error_code` and `run_id`, in characters (VARCHAR(255) columns).
inline constexpr std::size_t kMaxErrorCodeChars = 255;
inline constexpr std::size_t kMaxRunIdChars = 255;
inline constexpr std::size_t kMaxErrorMessageChars = 10'000;
/// Largest `context`, measured as its compact serialization.
inline constexpr std::size_t kMaxContextBytes = 16 * 1024;
/// Longest `skill_id` and `recovered_by`, in characters (VARCHAR(100) columns).
inline constexpr std::size_t kMaxShortText = 100;
inline constexpr std::size_t kMaxNotesChars = 10'000;
inline constexpr std::size_t kMaxEventIdBytes = 255;
/// Longest `category` filter, in characters (the column is VARCHAR(50)).
inline constexpr std::size_t kMaxCategoryChars = 50;
/// Widest `since_hours` window: one year.
inline constexpr std::int64_t kMaxSinceHours = 8760;
inline constexpr std::int64_t kDefaultSinceHours = 24;

/// One failure to ingest or match, validated. Text is valid UTF-8 without NUL characters.
struct FailureInput {
  std::string run_id;                        ///< 1..255 bytes.
  std::optional<std::string> tenant_id;      ///< Canonical lower-case UUID.
  std::string error_code;                    ///< Trimmed of ASCII whitespace; 1..255 bytes.
  std::optional<std::string> error_message;  ///< At most 10,000 characters.
  std::optional<std::string> skill_id;       ///< 1..100 characters.
  std::optional<std::int32_t> step_index;    ///< >= 0.
  std::optional<std::string> context_json;   ///< `context`: a JSON object, compact, <= 16 KiB.
  std::optional<std::string> event_id;       ///< Per-item idempotency key, 1..255 bytes.
};

/// Validates one text filter (`tenant_id`, `run_id`, `error_code`, `category`) the same way for
/// query strings and bulk bodies, and returns the value to compare with: a canonical UUID, an
/// error code trimmed as stored. `field` is the name an error carries.
Result<std::string> parse_filter_value(const std::string& field, std::string_view value);

/// `unrecovered`, `recovered` or `all`.
Result<RecoveryStatus> parse_recovery_status(const std::string& field, std::string_view value);

/// Parses a request body that must be a JSON object. Rejects, with field `body`, nesting deeper
/// than kMaxJsonDepth (checked before parsing), invalid JSON, invalid UTF-8 and non-objects; a
/// key repeated within one object is rejected naming its path (`failures[2].run_id`). Never
/// throws.
/// The record to store for a validated input: the given id and creation time, the tenant
/// defaulted, match columns still empty (fill them with `apply_match`).
FailureRecord to_failure_record(const FailureInput& in, std::string id, Micros created_at);
/// The same, taking the input's strings instead of copying them.
FailureRecord to_failure_record(FailureInput&& in, std::string id, Micros created_at);

Result<nlohmann::json> parse_json_body(std::string_view body);

/// For routes that take no body: nothing (or blanks), or an empty JSON object. Anything else
/// is refused like an unknown field.
Status parse_empty_body(std::string_view body);

/// Validates one failure object. `field_prefix` ("" or "failures[3].") is put in front of every
/// field an error names. Unknown fields, wrong types and out-of-range values are rejected;
/// `null` for an optional field means absent. Never throws.
Result<FailureInput> parse_failure_input(const nlohmann::json& object,
                                         const std::string& field_prefix);

/// The body of `POST /failures` and `POST /match`.
Result<FailureInput> parse_failure_body(std::string_view body);

/// The body of `POST /failures/batch`: `{"failures":[…]}` with 1..1000 items, validated
/// all-or-nothing (the first bad item fails the whole batch). Two items with the same
/// `event_id` are rejected.
Result<std::vector<FailureInput>> parse_failure_batch(std::string_view body);

/// What `PATCH /failures/{id}/recovery` asks for.
struct RecoveryPatch {
  bool recovery_succeeded = false;
  bool recovery_attempted = true;
  std::optional<std::string> notes;         ///< At most 10,000 characters.
  std::optional<std::string> recovered_by;  ///< 1..100 characters.
};

/// `{recovery_succeeded (required bool), recovery_attempted?, notes?, recovered_by?}`. A
/// recovery cannot have succeeded without being attempted, so `recovery_succeeded: true` with
/// `recovery_attempted: false` is rejected (field `recovery_attempted`).
Result<RecoveryPatch> parse_recovery_patch(std::string_view body);

/// `POST /failures/recovery/bulk`: which rows, and what to set on them.
struct BulkRecoveryRequest {
  FailureFilter filter;
  RecoveryPatch patch;
};

/// The filter fields `tenant_id`, `category`, `error_code`, `run_id`, `since_hours` (1..8760,
/// default 24, giving `filter.since = now - hours`), `status` (`unrecovered|recovered|all`,
/// default all), plus the fields of parse_recovery_patch.
Result<BulkRecoveryRequest> parse_bulk_recovery(std::string_view body, Micros now);

/// What an operator asks of the persist circuit breaker.
enum class BreakerAction { open, close, automatic };

/// `{"action":"open"|"close"|"auto"}`.
Result<BreakerAction> parse_breaker_action(std::string_view body);

}  // namespace failcat
