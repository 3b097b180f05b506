#include "core/matcher.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "core/tokenizer.hpp"

namespace failcat {
namespace {

using nlohmann::json;

json entry(const std::string& id) {
  return json{{"id", id},
              {"category", "test"},
              {"severity", "low"},
              {"is_retryable", false},
              {"recovery_mode", "abort"},
              {"recovery_suggestion", "Do something."}};
}

std::shared_ptr<const Catalog> build(std::vector<json> entries) {
  const auto load = parse_catalog(json{{"version", "t"}, {"entries", entries}}.dump());
  EXPECT_TRUE(load.ok()) << (load.problems.empty() ? "" : describe(load.problems[0]));
  return load.catalog;
}

// A small catalog exercising every tier.
std::shared_ptr<const Catalog> test_catalog() {
  json rate = entry("rate_limit");
  rate["error_codes"] = {"RATE_LIMITED", "HTTP_429"};
  rate["message_patterns"] = {"(?i)too many requests", "(?i)rate limit"};
  json tool = entry("tool_generic");
  tool["code_prefixes"] = {"TOOL_"};
  json tool_timeout = entry("tool_timeout");
  tool_timeout["code_prefixes"] = {"TOOL_TIMEOUT_"};
  tool_timeout["message_patterns"] = {"(?i)timed out"};
  json context = entry("context_length");
  context["message_patterns"] = {"(?i)context length|maximum context", "(?i)timed out"};
  json disk = entry("disk_full");
  disk["examples"] = {"failed to write checkpoint file after 3 attempts",
                      "volume data is completely full"};
  json dns = entry("dns");
  dns["examples"] = {"lookup of host registry failed with code 17"};
  return build({rate, tool, tool_timeout, context, disk, dns});
}

TEST(Matcher, ExactCodeHasFullConfidence) {
  const auto catalog = test_catalog();
  const MatchResult r = catalog->matcher().match("HTTP_429", "");
  EXPECT_EQ(r.type, MatchType::exact);
  EXPECT_DOUBLE_EQ(r.confidence, 1.0);
  ASSERT_NE(r.entry, nullptr);
  EXPECT_EQ(r.entry->id, "rate_limit");
  EXPECT_EQ(r.matched_on, "HTTP_429");
}

TEST(Matcher, CodesAreTrimmedAndCaseInsensitive) {
  const auto catalog = test_catalog();
  const MatchResult r = catalog->matcher().match(" \t rate_Limited\n", "");
  EXPECT_EQ(r.type, MatchType::exact);
  EXPECT_EQ(r.matched_on, "RATE_LIMITED");
  EXPECT_EQ(catalog->matcher().match("  tool_timeout_fetch ", "").type, MatchType::prefix);
  EXPECT_EQ(normalize_code("  abc_Def \r\n"), "ABC_DEF");
}

TEST(Matcher, PrefixHasNinetyPercentConfidence) {
  const auto catalog = test_catalog();
  const MatchResult r = catalog->matcher().match("TOOL_CRASHED", "");
  EXPECT_EQ(r.type, MatchType::prefix);
  EXPECT_DOUBLE_EQ(r.confidence, 0.9);
  EXPECT_EQ(r.entry->id, "tool_generic");
  EXPECT_EQ(r.matched_on, "TOOL_");
}

TEST(Matcher, LongestPrefixWins) {
  const auto catalog = test_catalog();
  const MatchResult r = catalog->matcher().match("TOOL_TIMEOUT_SEARCH", "");
  EXPECT_EQ(r.type, MatchType::prefix);
  EXPECT_EQ(r.entry->id, "tool_timeout");
  EXPECT_EQ(r.matched_on, "TOOL_TIMEOUT_");
  // A code equal to a prefix still matches it; one byte short falls back to the shorter one.
  EXPECT_EQ(catalog->matcher().match("TOOL_TIMEOUT_", "").entry->id, "tool_timeout");
  EXPECT_EQ(catalog->matcher().match("TOOL_TIMEOUT", "").entry->id, "tool_generic");
}

TEST(Matcher, ExactBeatsPrefixBeatsPattern) {
  json a = entry("a");
  a["code_prefixes"] = {"HTTP_5"};
  a["message_patterns"] = {"boom"};
  json b = entry("b");
  b["error_codes"] = {"HTTP_504"};
  const auto catalog = build({a, b});
  EXPECT_EQ(catalog->matcher().match("HTTP_504", "boom").entry->id, "b");
  EXPECT_EQ(catalog->matcher().match("HTTP_503", "boom").type, MatchType::prefix);
  EXPECT_EQ(catalog->matcher().match("OTHER", "boom").type, MatchType::pattern);
}

TEST(Matcher, PatternHasEightyPercentConfidence) {
  const auto catalog = test_catalog();
  const MatchResult r =
      catalog->matcher().match("UNKNOWN", "This model's maximum context length is 8192 tokens");
  EXPECT_EQ(r.type, MatchType::pattern);
  EXPECT_DOUBLE_EQ(r.confidence, 0.8);
  EXPECT_EQ(r.entry->id, "context_length");
  EXPECT_EQ(r.matched_on, "(?i)context length|maximum context");
}

TEST(Matcher, PatternTiesGoToTheFirstEntryThenTheFirstPattern) {
  const auto catalog = test_catalog();
  // "timed out" is a pattern of tool_timeout (third) and context_length (fourth).
  const MatchResult r = catalog->matcher().match("", "the request TIMED OUT");
  EXPECT_EQ(r.entry->id, "tool_timeout");
  // Both of rate_limit's patterns hit: the first one is named.
  const MatchResult both = catalog->matcher().match("", "rate limit: too many requests");
  EXPECT_EQ(both.entry->id, "rate_limit");
  EXPECT_EQ(both.matched_on, "(?i)too many requests");
}

TEST(Matcher, PatternsSeeAllOfTheLongestMessageTheApiAccepts) {
  const auto catalog = test_catalog();
  // 9,990 two-byte characters, then the pattern: 10,000 characters, 19,990 bytes.
  std::string filler;
  for (int i = 0; i < 9'990; ++i) filler += "\xc3\xa9";
  EXPECT_EQ(catalog->matcher().match("", filler + "rate limit").type, MatchType::pattern);
  // Beyond the bound (more than any accepted message holds) input is cut.
  const std::string dots(kMaxPatternInputBytes - 5, '.');
  EXPECT_EQ(catalog->matcher().match("", dots + "rate limit").type, MatchType::miss);
  EXPECT_EQ(catalog->matcher().match("", dots.substr(10) + "rate limit").type, MatchType::pattern);
}

TEST(Matcher, FuzzySeesTheWordsAfterALongToken) {
  const auto catalog = test_catalog();
  const std::string example = "Failed to write checkpoint file after 3 attempts";
  ASSERT_EQ(catalog->matcher().match("X", example).type, MatchType::fuzzy);
  // One 5,000-byte word and the example's eight tokens: similarity 8/9.
  const MatchResult r = catalog->matcher().match("X", std::string(5'000, 'x') + " " + example);
  EXPECT_EQ(r.type, MatchType::fuzzy);
  EXPECT_EQ(r.entry->id, "disk_full");
  EXPECT_DOUBLE_EQ(r.confidence, 0.75 * 8.0 / 9.0);
}

TEST(Matcher, FuzzyConfidenceIsThreeQuartersOfSimilarity) {
  const auto catalog = test_catalog();
  // Same token set as the example, numbers differ: similarity 1.
  const MatchResult same =
      catalog->matcher().match("X", "Failed to write checkpoint file after 12 attempts");
  EXPECT_EQ(same.type, MatchType::fuzzy);
  EXPECT_DOUBLE_EQ(same.confidence, 0.75);
  EXPECT_EQ(same.entry->id, "disk_full");
  EXPECT_EQ(same.matched_on, "failed to write checkpoint file after 3 attempts");

  // Example {failed to write checkpoint file after <num> attempts} (8 tokens); message shares 7
  // and adds 1: 7 / 9.
  const MatchResult close =
      catalog->matcher().match("X", "failed to write checkpoint file after 5 retries");
  EXPECT_EQ(close.type, MatchType::fuzzy);
  EXPECT_DOUBLE_EQ(close.confidence, 0.75 * 7.0 / 9.0);
}

TEST(Matcher, FuzzyAcceptsExactlyThreeFifthsAndRejectsLess) {
  json a = entry("a");
  a["examples"] = {"alpha beta gamma"};
  const auto catalog = build({a});
  const MatchResult at = catalog->matcher().match("", "alpha beta gamma delta epsilon");
  EXPECT_EQ(at.type, MatchType::fuzzy);
  EXPECT_DOUBLE_EQ(at.confidence, 0.75 * 0.6);
  EXPECT_EQ(catalog->matcher().match("", "alpha beta gamma delta epsilon zeta").type,
            MatchType::miss);
  EXPECT_EQ(catalog->matcher().match("", "alpha beta").type, MatchType::fuzzy);  // 2/3
  EXPECT_EQ(catalog->matcher().match("", "alpha").type, MatchType::miss);        // 1/3
}

TEST(Matcher, FuzzyTiesGoToTheFirstExampleInCatalogOrder) {
  json a = entry("a");
  a["examples"] = {"disk quota reached on node", "queue length exceeded"};
  json b = entry("b");
  b["examples"] = {"disk quota reached on host"};
  const auto catalog = build({a, b});
  // {disk quota reached on} shared with both examples, 4/5 each.
  const MatchResult r = catalog->matcher().match("", "disk quota reached on");
  EXPECT_EQ(r.entry->id, "a");
  EXPECT_EQ(r.matched_on, "disk quota reached on node");
  // A strictly better example later in the catalog still wins.
  EXPECT_EQ(catalog->matcher().match("", "disk quota reached on host").entry->id, "b");
}

TEST(Matcher, FuzzyMasksNumbersHexAndUuids) {
  json a = entry("a");
  a["examples"] = {"job 123e4567-e89b-12d3-a456-426614174000 lost lease 0xdeadbeef after 30s"};
  const auto catalog = build({a});
  const MatchResult r = catalog->matcher().match(
      "", "JOB 00000000-1111-2222-3333-444444444444 lost lease 0x1234abcd after 45s");
  EXPECT_EQ(r.type, MatchType::fuzzy);
  EXPECT_DOUBLE_EQ(r.confidence, 0.75);
}

TEST(Matcher, MissHasNoEntryAndZeroConfidence) {
  const auto catalog = test_catalog();
  const MatchResult r = catalog->matcher().match("SOMETHING_ELSE", "a message nobody knows");
  EXPECT_EQ(r.type, MatchType::miss);
  EXPECT_DOUBLE_EQ(r.confidence, 0.0);
  EXPECT_EQ(r.entry, nullptr);
  EXPECT_TRUE(r.matched_on.empty());
}

TEST(Matcher, MatchTypeNames) {
  EXPECT_EQ(to_string(MatchType::exact), "exact");
  EXPECT_EQ(to_string(MatchType::prefix), "prefix");
  EXPECT_EQ(to_string(MatchType::pattern), "pattern");
  EXPECT_EQ(to_string(MatchType::fuzzy), "fuzzy");
  EXPECT_EQ(to_string(MatchType::miss), "miss");
}

TEST(Matcher, SurvivesHostileInput) {
  const auto catalog = test_catalog();
  const Matcher& m = catalog->matcher();
  EXPECT_EQ(m.match("", "").type, MatchType::miss);
  EXPECT_EQ(m.match("   ", "   ").type, MatchType::miss);
  std::string garbage;
  for (int i = 0; i < 10'000; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) % 256));
  EXPECT_NO_THROW(m.match(garbage, garbage));
  EXPECT_EQ(m.match("", "\xff\xfe\xc3(rate limit\xe2\x82").type, MatchType::pattern);
  EXPECT_EQ(m.match(std::string("RATE_LIMITED\0tail", 17), "").type, MatchType::miss);
  // A code far longer than any catalog code can still start with a prefix.
  EXPECT_EQ(m.match("TOOL_" + std::string(5000, 'X'), "").type, MatchType::prefix);
  EXPECT_EQ(m.match(std::string(300, 'R'), std::string(10'000, 'a')).type, MatchType::miss);
}

TEST(Matcher, WorksWithoutAnyPatternsOrExamples) {
  json a = entry("a");
  a["error_codes"] = {"ONLY_CODE"};
  const auto catalog = build({a});
  EXPECT_EQ(catalog->matcher().match("only_code", "anything").type, MatchType::exact);
  EXPECT_EQ(catalog->matcher().match("x", "anything").type, MatchType::miss);
  EXPECT_TRUE(catalog->matcher().pattern_set_error().empty());
}

// The fuzzy tier's candidate pruning must never change the answer of a full scan.
TEST(Matcher, FuzzyAgreesWithBruteForceJaccard) {
  const std::vector<std::string> vocab = {
      "disk", "full", "write",  "failed",  "node",  "quota",   "token", "expired", "reset",
      "peer", "host", "lookup", "timeout", "after", "seconds", "retry", "volume"};
  std::mt19937 rng(1234);
  auto sentence = [&](std::size_t min_words, std::size_t max_words) {
    std::uniform_int_distribution<std::size_t> len(min_words, max_words);
    std::uniform_int_distribution<std::size_t> word(0, vocab.size() - 1);
    std::string s;
    for (std::size_t n = len(rng), i = 0; i < n; ++i) s += vocab[word(rng)] + " ";
    return s;
  };
  std::vector<json> entries;
  for (int e = 0; e < 30; ++e) {
    json j = entry("e" + std::to_string(e));
    j["examples"] = {sentence(2, 6), sentence(3, 7)};
    entries.push_back(j);
  }
  const auto catalog = build(entries);

  auto token_set = [](std::string_view text) {
    const auto tokens = tokenize_message(text);
    return std::set<std::string>(tokens.begin(), tokens.end());
  };
  for (int round = 0; round < 2000; ++round) {
    const std::string message = sentence(1, 8);
    const auto a = token_set(message);
    double best = -1;
    std::string best_example;
    const CatalogEntry* best_entry = nullptr;
    for (const auto& e : catalog->entries()) {
      for (const auto& example : e.examples) {
        const auto b = token_set(example);
        std::size_t inter = 0;
        for (const auto& t : a) inter += b.count(t);
        const double j =
            static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
        if (j >= kFuzzyThreshold && j > best) {
          best = j;
          best_example = example;
          best_entry = &e;
        }
      }
    }
    const MatchResult r = catalog->matcher().match("", message);
    if (best_entry == nullptr) {
      EXPECT_EQ(r.type, MatchType::miss) << message;
    } else {
      ASSERT_EQ(r.type, MatchType::fuzzy) << message;
      EXPECT_EQ(r.entry, best_entry) << message;
      EXPECT_EQ(r.matched_on, best_example) << message;
      EXPECT_DOUBLE_EQ(r.confidence, kFuzzyConfidenceFactor * best) << message;
    }
  }
}

void expect_valid(const Catalog& catalog, const MatchResult& r) {
  switch (r.type) {
    case MatchType::exact:
      EXPECT_EQ(r.confidence, kExactConfidence);
      break;
    case MatchType::prefix:
      EXPECT_EQ(r.confidence, kPrefixConfidence);
      break;
    case MatchType::pattern:
      EXPECT_EQ(r.confidence, kPatternConfidence);
      break;
    case MatchType::fuzzy:
      EXPECT_GE(r.confidence, kFuzzyConfidenceFactor * kFuzzyThreshold - 1e-12);
      EXPECT_LE(r.confidence, kFuzzyConfidenceFactor);
      break;
    case MatchType::miss:
      EXPECT_EQ(r.confidence, 0.0);
      EXPECT_EQ(r.entry, nullptr);
      EXPECT_TRUE(r.matched_on.empty());
      return;
  }
  ASSERT_NE(r.entry, nullptr);
  const auto& entries = catalog.entries();
  EXPECT_TRUE(r.entry >= entries.data() && r.entry < entries.data() + entries.size());
  EXPECT_FALSE(r.matched_on.empty());
}

TEST(Matcher, RandomInputAlwaysYieldsAValidAnswer) {
  const auto load = load_catalog_file(
      std::string(std::getenv("FAILCAT_SOURCE_DIR") ? std::getenv("FAILCAT_SOURCE_DIR") : ".") +
      "/config/failure_catalog.json");
  ASSERT_TRUE(load.ok());
  const Catalog& catalog = *load.catalog;
  const Matcher& matcher = catalog.matcher();

  std::vector<std::string> words;
  for (const auto& e : catalog.entries()) {
    for (const auto& c : e.error_codes) words.push_back(c);
    for (const auto& p : e.code_prefixes) words.push_back(p);
    for (const auto& x : e.examples) words.push_back(x);
  }
  std::mt19937_64 rng(20261101);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_int_distribution<std::size_t> pick(0, words.size() - 1);
  auto random_text = [&](std::size_t max_len) {
    std::string s;
    switch (kind(rng)) {
      case 0: {  // Binary bytes.
        const std::size_t n = std::uniform_int_distribution<std::size_t>(0, max_len)(rng);
        for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(byte(rng)));
        break;
      }
      case 1:  // Catalog words, mutated.
        s = words[pick(rng)];
        for (auto& c : s)
          if (byte(rng) < 20) c = static_cast<char>(byte(rng));
        break;
      case 2:  // Catalog words glued together.
        while (s.size() < max_len / 4) s += words[pick(rng)] + " ";
        break;
      default:  // Printable ASCII.
        for (std::size_t n = std::uniform_int_distribution<std::size_t>(0, 64)(rng); n > 0; --n)
          s.push_back(static_cast<char>(32 + byte(rng) % 95));
    }
    return s;
  };
  std::array<int, 5> seen{};
  for (int i = 0; i < 10'000; ++i) {
    const std::string code = random_text(300);
    const std::string message = random_text(i % 100 == 0 ? 12'000 : 400);
    const MatchResult r = matcher.match(code, message);
    ++seen[static_cast<std::size_t>(r.type)];
    expect_valid(catalog, r);
    if (HasFailure()) FAIL() << "at iteration " << i;
  }
  for (int count : seen) EXPECT_GT(count, 0);
}

TEST(Matcher, ConcurrentMatchesAgree) {
  const auto catalog = test_catalog();
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"HTTP_429", ""},
      {"TOOL_TIMEOUT_X", ""},
      {"", "maximum context exceeded"},
      {"", "failed to write checkpoint file after 9 attempts"},
      {"", "nothing"}};
  std::vector<MatchResult> expected;
  for (const auto& [code, message] : inputs)
    expected.push_back(catalog->matcher().match(code, message));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        const std::size_t k = static_cast<std::size_t>(i) % inputs.size();
        const MatchResult r = catalog->matcher().match(inputs[k].first, inputs[k].second);
        if (r.entry != expected[k].entry || r.type != expected[k].type) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace failcat
