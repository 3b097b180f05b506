#include "core/failure_json.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "core/uuid.hpp"

namespace failcat {
namespace {

using nlohmann::json;

constexpr Micros kT = 1'767'225'600 * kMicrosPerSecond + 123'456;

std::shared_ptr<const Catalog> small_catalog() {
  const json doc = {{"version", "2026.1"},
                    {"entries",
                     {{{"id", "rate_limit"},
                       {"error_codes", {"RATE_LIMITED", "HTTP_429"}},
                       {"code_prefixes", {"RATE_"}},
                       {"message_patterns", {"(?i)too many requests"}},
                       {"examples", {"provider returned too many requests for model"}},
                       {"category", "rate_limit"},
                       {"severity", "medium"},
                       {"is_retryable", true},
                       {"recovery_mode", "backoff"},
                       {"recovery_suggestion", "Back off and retry."},
                       {"runbook_url", "https://runbooks.example/rate-limit"},
                       {"max_attempts", 5},
                       {"initial_backoff_ms", 500},
                       {"description", "Provider throttling."}},
                      {{"id", "auth"},
                       {"error_codes", {"AUTH_FAILED"}},
                       {"category", "auth"},
                       {"severity", "critical"},
                       {"is_retryable", false},
                       {"recovery_mode", "escalate"},
                       {"recovery_suggestion", "Rotate the credential."}}}}};
  const auto load = parse_catalog(doc.dump());
  EXPECT_TRUE(load.ok()) << (load.problems.empty() ? "" : describe(load.problems[0]));
  return load.catalog;
}

FailureRecord sample_record() {
  FailureRecord r;
  r.id = "0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
  r.run_id = "run-1";
  r.tenant_id = std::string(kDefaultTenant);
  r.error_code = "HTTP_429";
  r.error_message = "too many requests";
  r.catalog_entry_id = "rate_limit";
  r.match_type = "exact";
  r.match_confidence = 1.0;
  r.category = "rate_limit";
  r.severity = "medium";
  r.is_retryable = true;
  r.recovery_mode = "backoff";
  r.recovery_suggestion = "Back off and retry.";
  r.recovery_attempted = true;
  r.recovery_succeeded = true;
  r.recovered_at = kT + kMicrosPerHour;
  r.recovered_by = "ops";
  r.recovery_notes = "retried";
  r.skill_id = "search";
  r.step_index = 4;
  r.context_json = R"({"attempt":2,"tags":["a"]})";
  r.created_at = kT;
  r.updated_at = kT + kMicrosPerHour;
  r.idempotency_key = "evt-1";
  return r;
}

TEST(FailureJson, HasTheTwentyThreeColumnsWithContextInsteadOfContextJson) {
  const json j = failure_to_json(sample_record());
  const std::set<std::string> expected = {"id",
                                          "run_id",
                                          "tenant_id",
                                          "error_code",
                                          "error_message",
                                          "catalog_entry_id",
                                          "match_type",
                                          "match_confidence",
                                          "category",
                                          "severity",
                                          "is_retryable",
                                          "recovery_mode",
                                          "recovery_suggestion",
                                          "recovery_attempted",
                                          "recovery_succeeded",
                                          "recovered_at",
                                          "recovered_by",
                                          "recovery_notes",
                                          "skill_id",
                                          "step_index",
                                          "context",
                                          "created_at",
                                          "updated_at"};
  std::set<std::string> keys;
  for (const auto& item : j.items()) keys.insert(item.key());
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(keys.size(), 23u);
  EXPECT_EQ(j["context"], json::parse(R"({"attempt":2,"tags":["a"]})"));
  EXPECT_EQ(j["step_index"], 4);
  EXPECT_EQ(j["match_confidence"], 1.0);
  EXPECT_EQ(j["is_retryable"], true);
}

TEST(FailureJson, TimestampsAreRfc3339Utc) {
  const json j = failure_to_json(sample_record());
  EXPECT_EQ(j["created_at"], "2026-01-01T00:00:00.123456Z");
  EXPECT_EQ(j["updated_at"], "2026-01-01T01:00:00.123456Z");
  EXPECT_EQ(j["recovered_at"], "2026-01-01T01:00:00.123456Z");
}

TEST(FailureJson, AbsentValuesAreNull) {
  FailureRecord r;
  r.id = "0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
  r.run_id = "r";
  r.tenant_id = std::string(kDefaultTenant);
  r.error_code = "E";
  r.created_at = kT;
  r.updated_at = kT;
  const json j = failure_to_json(r);
  EXPECT_EQ(j.size(), 23u);
  for (const char* key :
       {"error_message", "catalog_entry_id", "match_type", "match_confidence", "category",
        "severity", "recovery_mode", "recovery_suggestion", "recovered_at", "recovered_by",
        "recovery_notes", "skill_id", "step_index", "context"}) {
    EXPECT_TRUE(j[key].is_null()) << key;
  }
  EXPECT_EQ(j["recovery_attempted"], false);
  EXPECT_EQ(j["recovery_succeeded"], false);
}

TEST(FailureJson, UnparsableContextIsShownRaw) {
  FailureRecord r = sample_record();
  r.context_json = "{not json";
  EXPECT_EQ(failure_to_json(r)["context"], "{not json");
  r.context_json = std::string(100, '[') + std::string(100, ']');
  EXPECT_TRUE(failure_to_json(r)["context"].is_string());
}

TEST(FailureJson, DumpNeverThrowsOnInvalidUtf8) {
  FailureRecord r = sample_record();
  r.error_message = std::string("bad \xff\xfe bytes");
  std::string text;
  EXPECT_NO_THROW(text = dump_json(failure_to_json(r)));
  EXPECT_NE(text.find("bad \xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(dump_json(json{{"a", 1}}), R"({"a":1})");
}

TEST(MatchJson, ApplyMatchFillsColumnsOnHit) {
  const auto catalog = small_catalog();
  const MatchResult m = catalog->matcher().match("HTTP_429", "");
  FailureRecord r;
  apply_match(r, m);
  EXPECT_EQ(r.catalog_entry_id, "rate_limit");
  EXPECT_EQ(r.match_type, "exact");
  EXPECT_EQ(r.match_confidence, 1.0);
  EXPECT_EQ(r.category, "rate_limit");
  EXPECT_EQ(r.severity, "medium");
  EXPECT_TRUE(r.is_retryable);
  EXPECT_EQ(r.recovery_mode, "backoff");
  EXPECT_EQ(r.recovery_suggestion, "Back off and retry.");
}

TEST(MatchJson, ApplyMatchClearsColumnsOnMiss) {
  const auto catalog = small_catalog();
  FailureRecord r = sample_record();
  apply_match(r, catalog->matcher().match("SOMETHING_ELSE", "unrelated words"));
  EXPECT_FALSE(r.catalog_entry_id);
  EXPECT_EQ(r.match_type, "miss");
  EXPECT_EQ(r.match_confidence, 0.0);
  EXPECT_FALSE(r.category);
  EXPECT_FALSE(r.severity);
  EXPECT_FALSE(r.is_retryable);
  EXPECT_FALSE(r.recovery_mode);
  EXPECT_FALSE(r.recovery_suggestion);
}

TEST(MatchJson, DetailsOnHitAndMiss) {
  const auto catalog = small_catalog();
  const MatchDetails hit = match_details(catalog->matcher().match("RATE_EXCEEDED", ""), *catalog);
  EXPECT_EQ(hit.matched_on, "RATE_");
  EXPECT_EQ(hit.catalog_version, catalog->version());
  EXPECT_EQ(hit.runbook_url, "https://runbooks.example/rate-limit");
  EXPECT_EQ(hit.max_attempts, 5);
  EXPECT_EQ(hit.initial_backoff_ms, 500);

  json object = json::object();
  add_match_details(object, match_details(catalog->matcher().match("AUTH_FAILED", ""), *catalog));
  EXPECT_EQ(object["matched_on"], "AUTH_FAILED");
  EXPECT_EQ(object["catalog_version"], catalog->version());
  EXPECT_TRUE(object["runbook_url"].is_null());
  EXPECT_TRUE(object["max_attempts"].is_null());
  EXPECT_TRUE(object["initial_backoff_ms"].is_null());

  const MatchDetails miss = match_details(catalog->matcher().match("NOPE", ""), *catalog);
  EXPECT_FALSE(miss.matched_on);
  EXPECT_EQ(miss.catalog_version, catalog->version());
  json missed = json::object();
  add_match_details(missed, miss);
  EXPECT_EQ(missed.size(), 5u);
  EXPECT_TRUE(missed["matched_on"].is_null());
}

TEST(MatchJson, AReplayDescribesTheStoredMatchEvenAfterAReloadMovedIt) {
  const auto catalog = small_catalog();
  // Unchanged catalog: the fresh match lands on the stored entry and says what fired.
  FailureRecord stored = sample_record();
  auto d = replay_details(stored, catalog->matcher().match("HTTP_429", ""), *catalog);
  EXPECT_EQ(d.matched_on, "HTTP_429");
  EXPECT_EQ(d.max_attempts, 5);

  // Stored as a miss, matched now (an entry added since): still a miss's details.
  FailureRecord missed = sample_record();
  missed.catalog_entry_id.reset();
  d = replay_details(missed, catalog->matcher().match("HTTP_429", ""), *catalog);
  EXPECT_FALSE(d.matched_on);
  EXPECT_FALSE(d.runbook_url);
  EXPECT_FALSE(d.max_attempts);
  EXPECT_FALSE(d.initial_backoff_ms);
  EXPECT_EQ(d.catalog_version, catalog->version());

  // Stored on one entry, matched elsewhere now: the stored entry's figures, no `matched_on`.
  stored.catalog_entry_id = "rate_limit";
  d = replay_details(stored, catalog->matcher().match("AUTH_FAILED", ""), *catalog);
  EXPECT_FALSE(d.matched_on);
  EXPECT_EQ(d.runbook_url, "https://runbooks.example/rate-limit");
  EXPECT_EQ(d.max_attempts, 5);
  EXPECT_EQ(d.initial_backoff_ms, 500);
  d = replay_details(stored, catalog->matcher().match("NOPE", ""), *catalog);
  EXPECT_FALSE(d.matched_on);
  EXPECT_EQ(d.max_attempts, 5);

  // Stored on an entry the catalog no longer has: nothing beside the version.
  stored.catalog_entry_id = "retired_entry";
  d = replay_details(stored, catalog->matcher().match("RATE_LIMITED", ""), *catalog);
  EXPECT_FALSE(d.matched_on);
  EXPECT_FALSE(d.runbook_url);
  EXPECT_FALSE(d.max_attempts);
}

TEST(MatchJson, MatchAnswerOnHit) {
  const auto catalog = small_catalog();
  FailureInput in;
  in.run_id = "r";
  in.error_code = "X";
  in.error_message = "Too Many Requests from upstream";
  in.tenant_id = "0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
  const MatchResult m = catalog->matcher().match(in.error_code, *in.error_message);
  const json j = match_to_json(in, m, *catalog);
  EXPECT_EQ(j["error_code"], "X");
  EXPECT_EQ(j["tenant_id"], "0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b");
  EXPECT_EQ(j["catalog_entry_id"], "rate_limit");
  EXPECT_EQ(j["match_type"], "pattern");
  EXPECT_DOUBLE_EQ(j["match_confidence"].get<double>(), 0.8);
  EXPECT_EQ(j["category"], "rate_limit");
  EXPECT_EQ(j["severity"], "medium");
  EXPECT_EQ(j["is_retryable"], true);
  EXPECT_EQ(j["recovery_mode"], "backoff");
  EXPECT_EQ(j["recovery_suggestion"], "Back off and retry.");
  EXPECT_EQ(j["matched_on"], "(?i)too many requests");
  EXPECT_EQ(j["catalog_version"], catalog->version());
  EXPECT_EQ(j["runbook_url"], "https://runbooks.example/rate-limit");
  EXPECT_EQ(j["max_attempts"], 5);
  EXPECT_EQ(j["initial_backoff_ms"], 500);
  EXPECT_EQ(j.size(), 15u);
}

TEST(MatchJson, MatchAnswerOnMiss) {
  const auto catalog = small_catalog();
  FailureInput in;
  in.run_id = "r";
  in.error_code = "UNKNOWN";
  const json j = match_to_json(in, catalog->matcher().match(in.error_code, ""), *catalog);
  EXPECT_EQ(j["tenant_id"], std::string(kDefaultTenant));
  EXPECT_EQ(j["match_type"], "miss");
  EXPECT_EQ(j["match_confidence"], 0.0);
  EXPECT_EQ(j["is_retryable"], false);
  for (const char* key :
       {"catalog_entry_id", "category", "severity", "recovery_mode", "recovery_suggestion",
        "matched_on", "runbook_url", "max_attempts", "initial_backoff_ms"}) {
    EXPECT_TRUE(j[key].is_null()) << key;
  }
  EXPECT_EQ(j.size(), 15u);
}

TEST(StatsJson, ShapeAndRates) {
  FailureStats s;
  s.total = 8;
  s.matched = 6;
  s.missed = 2;
  s.recovery_attempted = 4;
  s.recovery_succeeded = 3;
  s.recovery_failed = 1;
  s.recovery_pending = 5;
  s.by_category = {{"rate_limit", 4}, {"auth", 2}};
  s.by_severity = {{"medium", 4}, {"critical", 2}};
  s.by_match_type = {{"exact", 6}, {"miss", 2}};
  s.top_error_codes = {{"HTTP_429", 4}, {"AUTH_FAILED", 2}};
  s.top_unmatched = {{"sig-1", "WEIRD", 2, "weird thing 42"}};
  const json j = stats_to_json(s, 24);
  EXPECT_EQ(j["window_hours"], 24);
  EXPECT_EQ(j["total"], 8);
  EXPECT_EQ(j["matched"], 6);
  EXPECT_EQ(j["missed"], 2);
  EXPECT_DOUBLE_EQ(j["hit_rate"].get<double>(), 0.75);
  EXPECT_EQ(j["recovery"]["attempted"], 4);
  EXPECT_EQ(j["recovery"]["succeeded"], 3);
  EXPECT_EQ(j["recovery"]["failed"], 1);
  EXPECT_EQ(j["recovery"]["pending"], 5);
  EXPECT_DOUBLE_EQ(j["recovery"]["success_rate"].get<double>(), 0.75);
  EXPECT_EQ(j["by_category"], json({{"rate_limit", 4}, {"auth", 2}}));
  EXPECT_EQ(j["by_severity"]["critical"], 2);
  EXPECT_EQ(j["by_match_type"]["miss"], 2);
  EXPECT_EQ(j["top_error_codes"], json::parse(R"([{"error_code":"HTTP_429","count":4},
                                                  {"error_code":"AUTH_FAILED","count":2}])"));
  EXPECT_EQ(j["top_unmatched"], json::parse(R"([{"signature":"sig-1","error_code":"WEIRD","count":2,
                             "sample_message":"weird thing 42"}])"));
  EXPECT_EQ(j.size(), 11u);
  EXPECT_EQ(j["recovery"].size(), 5u);
}

TEST(StatsJson, EmptyWindowHasZeroRatesAndEmptyCollections) {
  const json j = stats_to_json(FailureStats{}, 1);
  EXPECT_EQ(j["hit_rate"], 0.0);
  EXPECT_EQ(j["recovery"]["success_rate"], 0.0);
  EXPECT_TRUE(j["by_category"].is_object());
  EXPECT_TRUE(j["by_category"].empty());
  EXPECT_TRUE(j["top_error_codes"].is_array());
  EXPECT_TRUE(j["top_unmatched"].is_array());
  EXPECT_EQ(dump_json(j["by_severity"]), "{}");
}

TEST(AggregateJson, RendersRowWithNullsForMisses) {
  AggregateRow a;
  a.bucket_start = floor_hour(kT);
  a.tenant_id = std::string(kDefaultTenant);
  a.error_code = "WEIRD";
  a.match_type = "miss";
  a.failure_count = 7;
  a.recovered_count = 2;
  a.updated_at = kT;
  const json j = aggregate_to_json(a);
  EXPECT_EQ(j["bucket_start"], "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(j["updated_at"], "2026-01-01T00:00:00.123456Z");
  EXPECT_EQ(j["tenant_id"], std::string(kDefaultTenant));
  EXPECT_EQ(j["error_code"], "WEIRD");
  EXPECT_TRUE(j["catalog_entry_id"].is_null());
  EXPECT_TRUE(j["category"].is_null());
  EXPECT_EQ(j["match_type"], "miss");
  EXPECT_EQ(j["failure_count"], 7);
  EXPECT_EQ(j["recovered_count"], 2);
  a.catalog_entry_id = "rate_limit";
  a.category = "rate_limit";
  EXPECT_EQ(aggregate_to_json(a)["catalog_entry_id"], "rate_limit");
  EXPECT_EQ(aggregate_to_json(a)["category"], "rate_limit");
}

TEST(CatalogJson, ListsEntriesAndSummary) {
  const auto catalog = small_catalog();
  const json j = catalog_to_json(*catalog);
  EXPECT_EQ(j["version"], catalog->version());
  ASSERT_EQ(j["entries"].size(), 2u);
  const json& rate = j["entries"][0];
  EXPECT_EQ(rate["id"], "rate_limit");
  EXPECT_EQ(rate["error_codes"], json({"RATE_LIMITED", "HTTP_429"}));
  EXPECT_EQ(rate["code_prefixes"], json::array({"RATE_"}));
  EXPECT_EQ(rate["message_patterns"], json::array({"(?i)too many requests"}));
  EXPECT_EQ(rate["examples"].size(), 1u);
  EXPECT_EQ(rate["category"], "rate_limit");
  EXPECT_EQ(rate["severity"], "medium");
  EXPECT_EQ(rate["is_retryable"], true);
  EXPECT_EQ(rate["recovery_mode"], "backoff");
  EXPECT_EQ(rate["recovery_suggestion"], "Back off and retry.");
  EXPECT_EQ(rate["runbook_url"], "https://runbooks.example/rate-limit");
  EXPECT_EQ(rate["max_attempts"], 5);
  EXPECT_EQ(rate["initial_backoff_ms"], 500);
  EXPECT_EQ(rate["description"], "Provider throttling.");
  const json& auth = j["entries"][1];
  EXPECT_EQ(auth["id"], "auth");
  EXPECT_EQ(auth["severity"], "critical");
  EXPECT_TRUE(auth["code_prefixes"].is_array());
  EXPECT_TRUE(auth["code_prefixes"].empty());
  for (const char* key : {"runbook_url", "max_attempts", "initial_backoff_ms", "description"}) {
    EXPECT_FALSE(auth.contains(key)) << key;
  }
  EXPECT_EQ(
      j["summary"],
      json({{"entries", 2}, {"codes", 3}, {"prefixes", 1}, {"patterns", 1}, {"examples", 1}}));
}

}  // namespace
}  // namespace failcat

namespace failcat {
namespace {

TEST(SameReportedFailure, ComparesWhatTheClientSentNotWhatTheServerAdded) {
  FailureRecord first = sample_record();
  first.tenant_id = "abcdefab-1111-4111-8111-111111111111";
  FailureRecord retry = first;
  retry.id = "01900000-0000-7000-8000-00000000ffff";
  retry.created_at += 1'000'000;
  retry.updated_at = retry.created_at;
  retry.recovery_succeeded = !first.recovery_succeeded;
  retry.match_type = "miss";
  for (char& c : retry.tenant_id)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(same_reported_failure(first, retry));

  for (auto change : std::vector<std::function<void(FailureRecord&)>>{
           [](FailureRecord& r) { r.run_id += "x"; },
           [](FailureRecord& r) { r.error_code = "OTHER"; },
           [](FailureRecord& r) { r.error_message = "another message"; },
           [](FailureRecord& r) { r.error_message.reset(); },
           [](FailureRecord& r) { r.skill_id = "other.skill"; },
           [](FailureRecord& r) { r.step_index = 99; },
           [](FailureRecord& r) { r.tenant_id = "11111111-1111-4111-8111-111111111111"; },
           [](FailureRecord& r) { r.context_json = R"({"other":true})"; },
           [](FailureRecord& r) { r.context_json.reset(); }}) {
    FailureRecord other = first;
    change(other);
    EXPECT_FALSE(same_reported_failure(first, other));
  }
}

TEST(SameReportedFailure, ContextIsComparedAsJson) {
  FailureRecord a = sample_record();
  FailureRecord b = a;
  a.context_json = R"({"provider":"openai","attempt":2,"tags":["a","b"]})";
  b.context_json = R"({"attempt": 2, "tags": ["a", "b"], "provider": "openai"})";  // as JSONB
  EXPECT_TRUE(same_reported_failure(a, b));
  b.context_json = R"({"attempt": 2, "tags": ["b", "a"], "provider": "openai"})";
  EXPECT_FALSE(same_reported_failure(a, b));
  b.context_json = "{not json";
  EXPECT_FALSE(same_reported_failure(a, b));
}

}  // namespace
}  // namespace failcat
