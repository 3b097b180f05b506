#include "core/catalog.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/matcher.hpp"

namespace failcat {
namespace {

using nlohmann::json;

json valid_entry(const std::string& id) {
  return json{{"id", id},
              {"error_codes", {id + "_CODE"}},
              {"category", "network"},
              {"severity", "medium"},
              {"is_retryable", true},
              {"recovery_mode", "retry_with_backoff"},
              {"recovery_suggestion", "Retry with backoff."}};
}

json document(std::vector<json> entries) {
  return json{{"version", "2026.11.1"}, {"entries", std::move(entries)}};
}

CatalogLoad parse(const json& doc) {
  return parse_catalog(doc.dump());
}

// True when some problem names exactly this entry and field.
bool has_problem(const CatalogLoad& load, const std::string& entry, const std::string& field) {
  return std::any_of(load.problems.begin(), load.problems.end(),
                     [&](const CatalogProblem& p) { return p.entry == entry && p.field == field; });
}

std::string all_problems(const CatalogLoad& load) {
  std::string out;
  for (const auto& p : load.problems) out += describe(p) + "\n";
  return out;
}

std::string source_dir() {
  const char* dir = std::getenv("FAILCAT_SOURCE_DIR");
  return dir ? dir : ".";
}

class TempFile {
 public:
  TempFile()
      : path_(std::filesystem::temp_directory_path() /
              ("failcat_catalog_test_" + std::to_string(::getpid()) + "_" +
               std::to_string(counter_++) + ".json")) {}
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  void write(const std::string& text) const { std::ofstream(path_, std::ios::binary) << text; }
  std::string path() const { return path_.string(); }

 private:
  static inline std::atomic<int> counter_{0};
  std::filesystem::path path_;
};

TEST(Catalog, ParsesAValidDocument) {
  json entry = valid_entry("tool_timeout");
  entry["code_prefixes"] = {"TOOL_TIMEOUT_"};
  entry["message_patterns"] = {"(?i)tool .* timed out"};
  entry["examples"] = {"tool search timed out after 3000ms", "tool fetch timed out"};
  entry["runbook_url"] = "https://runbooks.example.com/tool-timeout";
  entry["max_attempts"] = 3;
  entry["initial_backoff_ms"] = 500;
  entry["description"] = "A tool exceeded its deadline.";
  const auto load = parse(document({entry, valid_entry("other")}));
  ASSERT_TRUE(load.ok()) << all_problems(load);
  EXPECT_TRUE(load.problems.empty());

  const Catalog& catalog = *load.catalog;
  EXPECT_EQ(catalog.file_version(), "2026.11.1");
  ASSERT_EQ(catalog.entries().size(), 2u);
  const CatalogEntry& e = catalog.entries()[0];
  EXPECT_EQ(e.id, "tool_timeout");
  EXPECT_EQ(e.error_codes, std::vector<std::string>{"tool_timeout_CODE"});
  EXPECT_EQ(e.severity, Severity::medium);
  EXPECT_TRUE(e.is_retryable);
  EXPECT_EQ(e.runbook_url, "https://runbooks.example.com/tool-timeout");
  EXPECT_EQ(e.max_attempts, 3);
  EXPECT_EQ(e.initial_backoff_ms, 500);
  EXPECT_EQ(e.description, "A tool exceeded its deadline.");
  EXPECT_EQ(catalog.find("other"), &catalog.entries()[1]);
  EXPECT_EQ(catalog.find("absent"), nullptr);

  const CatalogSummary& s = catalog.summary();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.codes, 2u);
  EXPECT_EQ(s.prefixes, 1u);
  EXPECT_EQ(s.patterns, 1u);
  EXPECT_EQ(s.examples, 2u);
}

TEST(Catalog, VersionCarriesAContentDigest) {
  const json doc = document({valid_entry("a")});
  const auto load = parse(doc);
  ASSERT_TRUE(load.ok());
  const std::string& version = load.catalog->version();
  ASSERT_EQ(version.size(), std::string("2026.11.1+").size() + 8);
  EXPECT_EQ(version.rfind("2026.11.1+", 0), 0u);
  EXPECT_EQ(version.find_first_not_of("0123456789abcdef", 10), std::string::npos);

  // Whitespace does not change the version; an edit without a version bump does.
  EXPECT_EQ(parse_catalog(doc.dump(4)).catalog->version(), version);
  json edited = doc;
  edited["entries"][0]["recovery_suggestion"] = "Retry later.";
  const auto edited_load = parse(edited);
  ASSERT_TRUE(edited_load.ok());
  EXPECT_NE(edited_load.catalog->version(), version);
  EXPECT_EQ(edited_load.catalog->file_version(), "2026.11.1");
}

TEST(Catalog, NullOptionalFieldsCountAsAbsent) {
  json entry = valid_entry("a");
  entry["runbook_url"] = nullptr;
  entry["max_attempts"] = nullptr;
  const auto load = parse(document({entry}));
  ASSERT_TRUE(load.ok()) << all_problems(load);
  EXPECT_FALSE(load.catalog->entries()[0].runbook_url.has_value());
  EXPECT_FALSE(load.catalog->entries()[0].max_attempts.has_value());
}

TEST(Catalog, RejectsUnknownFieldNamingEntryAndField) {
  json entry = valid_entry("a");
  entry["retry_count"] = 3;
  const auto load = parse(document({entry}));
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "a", "retry_count")) << all_problems(load);

  json doc = document({valid_entry("b")});
  doc["owner"] = "team";
  EXPECT_TRUE(has_problem(parse(doc), "", "owner"));
}

TEST(Catalog, RejectsDuplicateId) {
  json second = valid_entry("a");
  second["error_codes"] = {"OTHER"};
  const auto load = parse(document({valid_entry("a"), second}));
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "a", "id")) << all_problems(load);
}

TEST(Catalog, RejectsErrorCodeRepeatedAcrossEntriesIgnoringCaseAndSpaces) {
  json first = valid_entry("first");
  first["error_codes"] = {"RATE_LIMITED"};
  json second = valid_entry("second");
  second["error_codes"] = {"OK_CODE", "  rate_limited "};
  const auto load = parse(document({first, second}));
  EXPECT_FALSE(load.ok());
  ASSERT_TRUE(has_problem(load, "second", "error_codes[1]")) << all_problems(load);
  EXPECT_NE(all_problems(load).find("first"), std::string::npos);
}

TEST(Catalog, RejectsDuplicatePrefix) {
  json first = valid_entry("first");
  first["code_prefixes"] = {"TOOL_"};
  json second = valid_entry("second");
  second["code_prefixes"] = {"tool_"};
  const auto load = parse(document({first, second}));
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "second", "code_prefixes[0]")) << all_problems(load);
}

TEST(Catalog, RejectsInvalidPattern) {
  json entry = valid_entry("a");
  entry["message_patterns"] = {"(?i)fine", "unclosed (group"};
  const auto load = parse(document({entry}));
  EXPECT_FALSE(load.ok());
  ASSERT_TRUE(has_problem(load, "a", "message_patterns[1]")) << all_problems(load);
  EXPECT_NE(all_problems(load).find("RE2"), std::string::npos);
}

// A pattern that matches any text (a trailing `|`, a starred atom, any character) matches
// every message; broad ones that need something of a message are fine.
TEST(Catalog, RejectsAPatternThatMatchesEveryMessage) {
  for (const char* pattern : {"(?i)rate limit|", "x*", "(?i)", "^", "(?:timeout)?", ".", "(?s)."}) {
    SCOPED_TRACE(pattern);
    json entry = valid_entry("a");
    entry["message_patterns"] = {"(?i)fine", pattern};
    const auto load = parse(document({entry}));
    EXPECT_FALSE(load.ok());
    EXPECT_TRUE(has_problem(load, "a", "message_patterns[1]")) << all_problems(load);
  }
  json entry = valid_entry("a");
  entry["message_patterns"] = {"^$", "(?i)rate limit|quota", "\\S{3}", "(?i)error"};
  const auto load = parse(document({entry}));
  EXPECT_TRUE(load.ok()) << all_problems(load);
}

TEST(Catalog, RejectsBadSeverity) {
  json entry = valid_entry("a");
  entry["severity"] = "urgent";
  const auto load = parse(document({entry}));
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "a", "severity")) << all_problems(load);
}

TEST(Catalog, RejectsWrongTypes) {
  json entry = valid_entry("a");
  entry["is_retryable"] = "yes";
  entry["error_codes"] = "RATE_LIMITED";
  entry["examples"] = {"fine", 42};
  entry["max_attempts"] = 2.5;
  entry["category"] = 7;
  const auto load = parse(document({entry}));
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "a", "is_retryable")) << all_problems(load);
  EXPECT_TRUE(has_problem(load, "a", "error_codes"));
  EXPECT_TRUE(has_problem(load, "a", "examples[1]"));
  EXPECT_TRUE(has_problem(load, "a", "max_attempts"));
  EXPECT_TRUE(has_problem(load, "a", "category"));
}

TEST(Catalog, RejectsOutOfRangeNumbers) {
  json entry = valid_entry("a");
  entry["max_attempts"] = 0;
  entry["initial_backoff_ms"] = -1;
  const auto load = parse(document({entry}));
  EXPECT_TRUE(has_problem(load, "a", "max_attempts")) << all_problems(load);
  EXPECT_TRUE(has_problem(load, "a", "initial_backoff_ms"));
}

TEST(Catalog, RejectsMissingRequiredFieldsAndLabelsByIndexWithoutId) {
  json entry = valid_entry("a");
  entry.erase("id");
  entry.erase("recovery_suggestion");
  json second = valid_entry("b");
  second.erase("severity");
  const auto load = parse(document({entry, second}));
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "#0", "id")) << all_problems(load);
  EXPECT_TRUE(has_problem(load, "#0", "recovery_suggestion"));
  EXPECT_TRUE(has_problem(load, "b", "severity"));
  EXPECT_TRUE(has_problem(parse(json{{"entries", {valid_entry("c")}}}), "", "version"));
}

TEST(Catalog, RejectsEntryWithNothingToMatchOn) {
  json entry = valid_entry("a");
  entry.erase("error_codes");
  entry["examples"] = json::array();
  const auto load = parse(document({entry}));
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "a", "error_codes")) << all_problems(load);
}

TEST(Catalog, RejectsExampleWithoutWords) {
  json entry = valid_entry("a");
  entry["examples"] = {"!!! ???"};
  EXPECT_TRUE(has_problem(parse(document({entry})), "a", "examples[0]"));
}

TEST(Catalog, RejectsRepeatedKeyInsideAnEntry) {
  const std::string text =
      R"({"version":"1","entries":[{"id":"a","error_codes":["X"],"category":"c",)"
      R"("severity":"low","severity":"high","is_retryable":false,"recovery_mode":"abort",)"
      R"("recovery_suggestion":"s"}]})";
  const auto load = parse_catalog(text);
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "a", "severity")) << all_problems(load);
}

TEST(Catalog, CollectsEveryProblemAtOnce) {
  json bad_severity = valid_entry("one");
  bad_severity["severity"] = "huge";
  json bad_pattern = valid_entry("two");
  bad_pattern["message_patterns"] = {"("};
  json unknown = valid_entry("three");
  unknown["colour"] = "red";
  const auto load = parse(document({bad_severity, valid_entry("fine"), bad_pattern, unknown}));
  EXPECT_FALSE(load.ok());
  EXPECT_EQ(load.catalog, nullptr);
  EXPECT_TRUE(has_problem(load, "one", "severity")) << all_problems(load);
  EXPECT_TRUE(has_problem(load, "two", "message_patterns[0]"));
  EXPECT_TRUE(has_problem(load, "three", "colour"));
}

TEST(Catalog, RejectsMalformedDocuments) {
  EXPECT_FALSE(parse_catalog("").ok());
  EXPECT_FALSE(parse_catalog("{\"version\": ").ok());
  EXPECT_FALSE(parse_catalog("[]").ok());
  EXPECT_FALSE(parse_catalog("{\"version\":\"1\",\"entries\":[]}").ok());
  EXPECT_FALSE(parse_catalog(std::string("{\"version\":\"\xff\xfe\"}")).ok());
  const auto load = parse_catalog("{\"version\":\"1\",\"entries\":[42]}");
  EXPECT_TRUE(has_problem(load, "#0", "")) << all_problems(load);
}

TEST(Catalog, RejectsNestingDeeperThanTheLimit) {
  std::string deep = "{\"version\":\"1\",\"entries\":[" + valid_entry("a").dump() +
                     "],\"description\":" + std::string(200'000, '[') + std::string(200'000, ']') +
                     "}";
  const auto load = parse_catalog(deep);
  EXPECT_FALSE(load.ok());
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_NE(load.problems[0].reason.find("deeper"), std::string::npos);

  // Brackets inside strings do not count.
  json entry = valid_entry("a");
  entry["recovery_suggestion"] = std::string(100, '[');
  EXPECT_TRUE(parse(document({entry})).ok());
}

TEST(Catalog, DescribeNamesEntryAndField) {
  EXPECT_EQ(describe({"llm_rate_limit", "severity", "must be one of low|medium|high|critical"}),
            "entry 'llm_rate_limit', field 'severity': must be one of low|medium|high|critical");
  EXPECT_EQ(describe({"", "", "invalid JSON"}), "invalid JSON");
}

TEST(Catalog, SeverityRoundTrips) {
  for (Severity s : {Severity::low, Severity::medium, Severity::high, Severity::critical}) {
    EXPECT_EQ(parse_severity(to_string(s)), s);
  }
  EXPECT_FALSE(parse_severity("HIGH").has_value());
}

TEST(Catalog, LoadFileReportsMissingFile) {
  const auto load = load_catalog_file("/nonexistent/failcat/catalog.json");
  EXPECT_FALSE(load.ok());
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_NE(load.problems[0].reason.find("cannot open"), std::string::npos);
}

TEST(Catalog, ShippedCatalogLoadsWithAtLeastFortyEntries) {
  const auto load = load_catalog_file(source_dir() + "/config/failure_catalog.json");
  ASSERT_TRUE(load.ok()) << all_problems(load);
  const Catalog& catalog = *load.catalog;
  EXPECT_GE(catalog.entries().size(), 40u);
  for (const auto& entry : catalog.entries()) {
    EXPECT_FALSE(entry.recovery_suggestion.empty()) << entry.id;
    EXPECT_GE(entry.examples.size(), 2u) << entry.id;
    if (entry.is_retryable) {
      EXPECT_TRUE(entry.max_attempts.has_value()) << entry.id;
      EXPECT_TRUE(entry.initial_backoff_ms.has_value()) << entry.id;
    }
  }
}

TEST(Catalog, ShippedCatalogRecognisesItsOwnCodesAndExamples) {
  const auto load = load_catalog_file(source_dir() + "/config/failure_catalog.json");
  ASSERT_TRUE(load.ok()) << all_problems(load);
  const Matcher& matcher = load.catalog->matcher();
  for (const auto& entry : load.catalog->entries()) {
    for (const auto& code : entry.error_codes) {
      const MatchResult result = matcher.match(code, "");
      EXPECT_EQ(result.type, MatchType::exact) << code;
      EXPECT_EQ(result.entry, &entry) << code;
    }
    for (const auto& example : entry.examples) {
      const MatchResult result = matcher.match("UNLISTED_CODE", example);
      ASSERT_NE(result.entry, nullptr) << entry.id << ": " << example;
      EXPECT_EQ(result.entry->id, entry.id) << example << " fired " << result.matched_on;
    }
  }
  EXPECT_EQ(matcher.match("HTTP_404", "").entry->id, "client_error");
  EXPECT_EQ(matcher.match("HTTP_500", "").entry->id, "llm_provider_server_error");
  EXPECT_EQ(matcher.match("SANDBOX_DENIED_MOUNT", "").entry->id, "sandbox_permission_denied");
  EXPECT_EQ(matcher.match("SANDBOX_WEIRD", "").entry->id, "sandbox_error");
}

TEST(CatalogHolder, ReloadSwapsInAValidFile) {
  const auto initial = parse(document({valid_entry("old")}));
  ASSERT_TRUE(initial.ok());
  CatalogHolder holder(initial.catalog);
  EXPECT_EQ(holder.current(), initial.catalog);

  TempFile file;
  file.write(document({valid_entry("new")}).dump());
  const auto load = holder.reload(file.path());
  ASSERT_TRUE(load.ok()) << all_problems(load);
  EXPECT_EQ(holder.current(), load.catalog);
  EXPECT_NE(holder.current()->find("new"), nullptr);
  EXPECT_EQ(holder.reloads(), 1u);
}

TEST(CatalogHolder, ReloadKeepsTheOldCatalogWhenTheNewOneIsBad) {
  const auto initial = parse(document({valid_entry("old")}));
  ASSERT_TRUE(initial.ok());
  CatalogHolder holder(initial.catalog);

  TempFile file;
  json bad = valid_entry("new");
  bad["severity"] = "catastrophic";
  file.write(document({bad}).dump());
  const auto load = holder.reload(file.path());
  EXPECT_FALSE(load.ok());
  EXPECT_TRUE(has_problem(load, "new", "severity"));
  EXPECT_EQ(holder.current(), initial.catalog);
  EXPECT_FALSE(holder.reload("/nonexistent/catalog.json").ok());
  EXPECT_EQ(holder.current(), initial.catalog);
  EXPECT_EQ(holder.reloads(), 0u);
}

TEST(CatalogHolder, ReadersKeepTheirSnapshotAcrossReloads) {
  const auto first = parse(document({valid_entry("first")}));
  const auto second = parse(document({valid_entry("second")}));
  ASSERT_TRUE(first.ok() && second.ok());
  CatalogHolder holder(first.catalog);

  std::atomic<bool> stop{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      const auto snapshot = holder.current();
      const MatchResult r = snapshot->matcher().match(snapshot->entries()[0].id + "_CODE", "");
      if (r.entry != &snapshot->entries()[0]) ++bad_reads;
    }
  });
  for (int i = 0; i < 2000; ++i) holder.replace(i % 2 ? first.catalog : second.catalog);
  stop = true;
  reader.join();
  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_EQ(holder.reloads(), 2000u);
}

}  // namespace
}  // namespace failcat
