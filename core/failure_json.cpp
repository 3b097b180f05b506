#include "core/failure_json.hpp"

#include <cctype>
#include <string_view>

#include "core/ascii.hpp"
#include "core/timestamp.hpp"
#include "core/uuid.hpp"

namespace failcat {
namespace {

using nlohmann::json;

template <class T>
json or_null(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json time_or_null(const std::optional<Micros>& t) {
  return t ? json(format_rfc3339(*t)) : json(nullptr);
}

json text_or_null(const std::string& text) {
  return text.empty() ? json(nullptr) : json(text);
}

// Stored context is validated on the way in; anything else (hand-edited rows, deep nesting) is
// shown as the raw text instead of failing the whole answer.
json context_value(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  if (json_nesting_depth(*text, kMaxJsonDepth) > kMaxJsonDepth) return *text;
  json parsed = json::parse(*text, nullptr, false);
  if (parsed.is_discarded()) return *text;
  return parsed;
}

double rate(std::int64_t part, std::int64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

json counts(const std::map<std::string, std::int64_t>& by_key) {
  json out = json::object();
  for (const auto& [key, count] : by_key) out[key] = count;
  return out;
}

}  // namespace

bool same_reported_failure(const FailureRecord& a, const FailureRecord& b) {
  if (ascii_lower(a.tenant_id) != ascii_lower(b.tenant_id) || a.run_id != b.run_id ||
      a.error_code != b.error_code || a.error_message != b.error_message ||
      a.skill_id != b.skill_id || a.step_index != b.step_index) {
    return false;
  }
  if (a.context_json == b.context_json) return true;
  if (!a.context_json || !b.context_json) return false;
  // The database may give the context back re-spaced and re-ordered (JSONB).
  const auto left = json::parse(*a.context_json, nullptr, false);
  const auto right = json::parse(*b.context_json, nullptr, false);
  return !left.is_discarded() && !right.is_discarded() && left == right;
}

json failure_to_json(const FailureRecord& r) {
  return json{{"id", r.id},
              {"run_id", r.run_id},
              {"tenant_id", r.tenant_id},
              {"error_code", r.error_code},
              {"error_message", or_null(r.error_message)},
              {"catalog_entry_id", or_null(r.catalog_entry_id)},
              {"match_type", or_null(r.match_type)},
              {"match_confidence", or_null(r.match_confidence)},
              {"category", or_null(r.category)},
              {"severity", or_null(r.severity)},
              {"is_retryable", r.is_retryable},
              {"recovery_mode", or_null(r.recovery_mode)},
              {"recovery_suggestion", or_null(r.recovery_suggestion)},
              {"recovery_attempted", r.recovery_attempted},
              {"recovery_succeeded", r.recovery_succeeded},
              {"recovered_at", time_or_null(r.recovered_at)},
              {"recovered_by", or_null(r.recovered_by)},
              {"recovery_notes", or_null(r.recovery_notes)},
              {"skill_id", or_null(r.skill_id)},
              {"step_index", or_null(r.step_index)},
              {"context", context_value(r.context_json)},
              {"created_at", format_rfc3339(r.created_at)},
              {"updated_at", format_rfc3339(r.updated_at)}};
}

MatchDetails match_details(const MatchResult& m, const Catalog& catalog) {
  MatchDetails d;
  d.catalog_version = catalog.version();
  if (m.entry == nullptr) return d;
  d.matched_on = m.matched_on;
  d.runbook_url = m.entry->runbook_url;
  d.max_attempts = m.entry->max_attempts;
  d.initial_backoff_ms = m.entry->initial_backoff_ms;
  return d;
}

MatchDetails replay_details(const FailureRecord& stored, const MatchResult& fresh,
                            const Catalog& catalog) {
  const bool fresh_miss = fresh.entry == nullptr;
  if (fresh_miss ? !stored.catalog_entry_id
                 : stored.catalog_entry_id && *stored.catalog_entry_id == fresh.entry->id) {
    return match_details(fresh, catalog);
  }
  MatchDetails d;
  d.catalog_version = catalog.version();
  if (!stored.catalog_entry_id) return d;
  if (const CatalogEntry* entry = catalog.find(*stored.catalog_entry_id)) {
    d.runbook_url = entry->runbook_url;
    d.max_attempts = entry->max_attempts;
    d.initial_backoff_ms = entry->initial_backoff_ms;
  }
  return d;
}

void add_match_details(json& object, const MatchDetails& d) {
  object["matched_on"] = or_null(d.matched_on);
  object["catalog_version"] = d.catalog_version;
  object["runbook_url"] = or_null(d.runbook_url);
  object["max_attempts"] = or_null(d.max_attempts);
  object["initial_backoff_ms"] = or_null(d.initial_backoff_ms);
}

void apply_match(FailureRecord& r, const MatchResult& m) {
  const CatalogEntry* entry = m.entry;
  if (entry == nullptr) {
    r.catalog_entry_id.reset();
    r.match_type = std::string(to_string(MatchType::miss));
    r.match_confidence = 0.0;
    r.category.reset();
    r.severity.reset();
    r.is_retryable = false;
    r.recovery_mode.reset();
    r.recovery_suggestion.reset();
    return;
  }
  r.catalog_entry_id = entry->id;
  r.match_type = std::string(to_string(m.type));
  r.match_confidence = m.confidence;
  r.category = entry->category;
  r.severity = std::string(to_string(entry->severity));
  r.is_retryable = entry->is_retryable;
  r.recovery_mode = entry->recovery_mode;
  r.recovery_suggestion = entry->recovery_suggestion;
}

json stats_to_json(const FailureStats& s, int window_hours) {
  json top_codes = json::array();
  for (const auto& row : s.top_error_codes) {
    top_codes.push_back({{"error_code", row.key}, {"count", row.count}});
  }
  json top_unmatched = json::array();
  for (const auto& row : s.top_unmatched) {
    top_unmatched.push_back({{"signature", row.signature},
                             {"error_code", row.error_code},
                             {"count", row.count},
                             {"sample_message", row.sample_message}});
  }
  return json{{"window_hours", window_hours},
              {"total", s.total},
              {"matched", s.matched},
              {"missed", s.missed},
              {"hit_rate", rate(s.matched, s.total)},
              {"recovery",
               {{"attempted", s.recovery_attempted},
                {"succeeded", s.recovery_succeeded},
                {"failed", s.recovery_failed},
                {"pending", s.recovery_pending},
                {"success_rate", rate(s.recovery_succeeded, s.recovery_attempted)}}},
              {"by_category", counts(s.by_category)},
              {"by_severity", counts(s.by_severity)},
              {"by_match_type", counts(s.by_match_type)},
              {"top_error_codes", std::move(top_codes)},
              {"top_unmatched", std::move(top_unmatched)}};
}

json aggregate_to_json(const AggregateRow& a) {
  return json{{"bucket_start", format_rfc3339(a.bucket_start)},
              {"tenant_id", a.tenant_id},
              {"error_code", a.error_code},
              {"catalog_entry_id", text_or_null(a.catalog_entry_id)},
              {"category", text_or_null(a.category)},
              {"match_type", a.match_type},
              {"failure_count", a.failure_count},
              {"recovered_count", a.recovered_count},
              {"updated_at", format_rfc3339(a.updated_at)}};
}

json catalog_to_json(const Catalog& c) {
  json entries = json::array();
  for (const CatalogEntry& e : c.entries()) {
    json entry = {{"id", e.id},
                  {"error_codes", e.error_codes},
                  {"code_prefixes", e.code_prefixes},
                  {"message_patterns", e.message_patterns},
                  {"examples", e.examples},
                  {"category", e.category},
                  {"severity", std::string(to_string(e.severity))},
                  {"is_retryable", e.is_retryable},
                  {"recovery_mode", e.recovery_mode},
                  {"recovery_suggestion", e.recovery_suggestion}};
    if (e.runbook_url) entry["runbook_url"] = *e.runbook_url;
    if (e.max_attempts) entry["max_attempts"] = *e.max_attempts;
    if (e.initial_backoff_ms) entry["initial_backoff_ms"] = *e.initial_backoff_ms;
    if (e.description) entry["description"] = *e.description;
    entries.push_back(std::move(entry));
  }
  const CatalogSummary& s = c.summary();
  return json{{"version", c.version()},
              {"entries", std::move(entries)},
              {"summary",
               {{"entries", s.entries},
                {"codes", s.codes},
                {"prefixes", s.prefixes},
                {"patterns", s.patterns},
                {"examples", s.examples}}}};
}

json match_to_json(const FailureInput& in, const MatchResult& m, const Catalog& c) {
  FailureRecord columns;
  apply_match(columns, m);
  json out = {{"error_code", in.error_code},
              {"tenant_id", in.tenant_id.value_or(std::string(kDefaultTenant))},
              {"catalog_entry_id", or_null(columns.catalog_entry_id)},
              {"match_type", or_null(columns.match_type)},
              {"match_confidence", or_null(columns.match_confidence)},
              {"category", or_null(columns.category)},
              {"severity", or_null(columns.severity)},
              {"is_retryable", columns.is_retryable},
              {"recovery_mode", or_null(columns.recovery_mode)},
              {"recovery_suggestion", or_null(columns.recovery_suggestion)}};
  add_match_details(out, match_details(m, c));
  return out;
}

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace failcat
