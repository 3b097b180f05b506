#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/catalog.hpp"
#include "core/failure.hpp"
#include "core/failure_query.hpp"
#include "core/matcher.hpp"
#include "core/request_parsing.hpp"

namespace failcat {

/// The failure object of the API: the 23 columns under their names, except `context_json`,
/// shown as `context` (parsed back into JSON; the raw string when it does not parse);
/// timestamps RFC 3339 UTC; absent values as null. The idempotency key is not shown.
nlohmann::json failure_to_json(const FailureRecord& r);

/// Whether `a` and `b` record the same reported failure: the fields a client sends (tenant,
/// run, code, message, skill, step, context — compared as JSON values, so key order and
/// spacing do not count). Ids, times, matches and recovery state are not compared.
bool same_reported_failure(const FailureRecord& a, const FailureRecord& b);

/// Match details that are not columns, for ingest and match answers.
struct MatchDetails {
  std::optional<std::string> matched_on;  ///< The code, prefix, pattern or example; none on a miss.
  std::string catalog_version;
  std::optional<std::string> runbook_url;
  std::optional<int> max_attempts;
  std::optional<int> initial_backoff_ms;
};

/// The details of `m`, which must come from `catalog`'s matcher.
MatchDetails match_details(const MatchResult& m, const Catalog& catalog);

/// The details of a stored failure answered again (an idempotent replay): those of `fresh`
/// (its message matched again by `catalog`'s matcher) when that lands where the stored match
/// did; otherwise, after a reload moved it, those of the stored entry as `catalog` now has it,
/// without `matched_on` (what fired then is not stored), and none for a stored miss or an entry
/// the catalog no longer has. The answer never mixes the stored columns with another entry's.
MatchDetails replay_details(const FailureRecord& stored, const MatchResult& fresh,
                            const Catalog& catalog);

/// Adds `matched_on`, `catalog_version`, `runbook_url`, `max_attempts` and
/// `initial_backoff_ms` (null when absent) to `object`.
void add_match_details(nlohmann::json& object, const MatchDetails& d);

/// Fills the match-derived columns (`catalog_entry_id`, `match_type`, `match_confidence`,
/// `category`, `severity`, `is_retryable`, `recovery_mode`, `recovery_suggestion`). On a miss
/// they are null (false for `is_retryable`), `match_type` is `miss` and the confidence 0.0.
void apply_match(FailureRecord& r, const MatchResult& m);

/// `GET /failures/stats`: `{window_hours, total, matched, missed, hit_rate, recovery:{attempted,
/// succeeded, failed, pending, success_rate}, by_category, by_severity, by_match_type,
/// top_error_codes:[{error_code,count}], top_unmatched:[{signature, error_code, count,
/// sample_message}]}`. Rates are 0 when their denominator is.
nlohmann::json stats_to_json(const FailureStats& s, int window_hours);

/// One hourly rollup: `bucket_start` and `updated_at` in RFC 3339; `catalog_entry_id` and
/// `category` null for misses.
nlohmann::json aggregate_to_json(const AggregateRow& a);

/// `GET /catalog`: `{version, entries:[…], summary:{entries, codes, prefixes, patterns,
/// examples}}`; an entry's optional fields appear only when set.
nlohmann::json catalog_to_json(const Catalog& c);

/// The `POST /match` answer: `{error_code, tenant_id, catalog_entry_id, match_type,
/// match_confidence, category, severity, is_retryable, recovery_mode, recovery_suggestion}` plus
/// the match details. `tenant_id` is the input's, or the default tenant when it has none; resolve
/// a tenant-scoped key into `in.tenant_id` first.
nlohmann::json match_to_json(const FailureInput& in, const MatchResult& m, const Catalog& c);

/// Compact serialization that never throws on invalid UTF-8 (bad bytes become U+FFFD).
std::string dump_json(const nlohmann::json& j);

}  // namespace failcat
