// Matcher cost per match on synthetic catalogs of 40, 1,000 and 10,000 entries, for every
// matching tier, against a naive matcher that scans all entries and tries each std::regex.
//
// Run: failcat-matcher-bench [--benchmark_filter=...]; every case is repeated 5 times and only
// the mean, median and standard deviation are reported.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/catalog.hpp"
#include "core/matcher.hpp"
#include "core/tokenizer.hpp"

namespace failcat {
namespace {

using nlohmann::json;

// A pronounceable, letters-only word unique to (index, salt): digits would be masked by the
// tokenizer and make every entry look alike.
std::string word(std::size_t index, std::size_t salt) {
  static constexpr char kConsonants[] = "bdfgklmnprstvz";
  static constexpr char kVowels[] = "aeiou";
  std::uint64_t x = index * 0x9E3779B97F4A7C15ULL + salt * 0xBF58476D1CE4E5B9ULL + 1;
  std::string out;
  for (int i = 0; i < 2; ++i) {
    x ^= x >> 29;
    x *= 0x94D049BB133111EBULL;
    out.push_back(kConsonants[(x >> 11) % 14]);
    out.push_back(kVowels[(x >> 23) % 5]);
  }
  // Base-26 suffix: guarantees uniqueness.
  std::size_t n = index * 7 + salt;
  do {
    out.push_back(static_cast<char>('a' + n % 26));
    n /= 26;
  } while (n > 0);
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return s;
}

// How the synthetic examples share words.
enum class Vocabulary {
  // Two words unique to the entry plus five drawn, skewed towards the most common, from 400
  // shared words: a few words ("failed", "timeout") are in many examples, most in few.
  realistic,
  // Every example holds the same seven words plus two of its own: each example is a near miss
  // (similarity just under 0.6) for every message, the fuzzy tier's worst case.
  dense,
};

std::string common_word(std::size_t index) {
  return word(index, 5);
}

// The i-th shared word of entry `entry`'s example `example`, skewed towards low indexes.
std::string skewed_common_word(std::size_t entry, std::size_t example, std::size_t i) {
  std::uint64_t x = (entry * 31 + example * 7 + i + 1) * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 31;
  const double u = static_cast<double>(x % 1'000'003) / 1'000'003.0;
  return common_word(static_cast<std::size_t>(400.0 * u * u));
}

std::string example_text(std::size_t entry, std::size_t example, Vocabulary vocabulary) {
  const std::string w1 = word(entry, 1);
  const std::string w2 = word(entry, 2);
  if (vocabulary == Vocabulary::dense) {
    return example == 0 ? w1 + " " + w2 + " worker lost lease on shard 17 during compaction"
                        : "request to " + w1 + " failed with status 503 after retry";
  }
  std::string text = example == 0 ? w1 + " " + w2 : w1 + " code 503";
  for (std::size_t i = 0; i < 5; ++i) text += " " + skewed_common_word(entry, example, i);
  return text;
}

// Deterministic synthetic catalog: each entry has two codes, one prefix, one pattern and two
// examples.
std::string synthetic_catalog(std::size_t entries, Vocabulary vocabulary) {
  json list = json::array();
  for (std::size_t i = 0; i < entries; ++i) {
    const std::string w0 = word(i, 0);
    list.push_back(
        json{{"id", "syn_" + std::to_string(i)},
             {"error_codes", {upper(w0) + "_FAILED", "SYN_ERR_" + std::to_string(i)}},
             {"code_prefixes", {"SYNP_" + std::to_string(i) + "_"}},
             {"message_patterns", {"(?i)" + w0 + " (service|backend) (failed|refused)"}},
             {"examples", {example_text(i, 0, vocabulary), example_text(i, 1, vocabulary)}},
             {"category", "synthetic"},
             {"severity", "medium"},
             {"is_retryable", true},
             {"recovery_mode", "retry_with_backoff"},
             {"recovery_suggestion", "Retry with backoff."},
             {"max_attempts", 3},
             {"initial_backoff_ms", 100}});
  }
  return json{{"version", "bench"}, {"entries", list}}.dump();
}

// The baseline: no index at all, one pass over the entries per tier, std::regex for patterns.
class NaiveMatcher {
 public:
  explicit NaiveMatcher(const Catalog& catalog) {
    for (const auto& entry : catalog.entries()) {
      Entry e{&entry, {}, {}, {}, {}};
      for (const auto& c : entry.error_codes) e.codes.push_back(normalize_code(c));
      for (const auto& p : entry.code_prefixes) e.prefixes.push_back(normalize_code(p));
      for (const auto& p : entry.message_patterns) {
        const bool icase = p.rfind("(?i)", 0) == 0;
        e.regexes.emplace_back(
            icase ? p.substr(4) : p,
            icase ? std::regex::ECMAScript | std::regex::icase : std::regex::ECMAScript);
      }
      for (const auto& x : entry.examples) {
        const auto tokens = tokenize_message(x);
        e.examples.emplace_back(tokens.begin(), tokens.end());
      }
      entries_.push_back(std::move(e));
    }
  }

  MatchType match(std::string_view code, std::string_view message) const {
    const std::string normalized = normalize_code(code);
    for (const auto& e : entries_) {
      for (const auto& c : e.codes)
        if (c == normalized) return MatchType::exact;
    }
    std::size_t longest = 0;
    for (const auto& e : entries_) {
      for (const auto& p : e.prefixes)
        if (p.size() > longest && normalized.compare(0, p.size(), p) == 0) longest = p.size();
    }
    if (longest > 0) return MatchType::prefix;
    const std::string text(message.substr(0, kMaxPatternInputBytes));
    for (const auto& e : entries_) {
      for (const auto& re : e.regexes)
        if (std::regex_search(text, re)) return MatchType::pattern;
    }
    const auto tokens = tokenize_message(message);
    const std::set<std::string> a(tokens.begin(), tokens.end());
    double best = 0;
    for (const auto& e : entries_) {
      for (const auto& b : e.examples) {
        std::size_t inter = 0;
        for (const auto& t : a) inter += b.count(t);
        const double j =
            static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
        best = std::max(best, j);
      }
    }
    return best >= kFuzzyThreshold ? MatchType::fuzzy : MatchType::miss;
  }

 private:
  struct Entry {
    const CatalogEntry* entry;
    std::vector<std::string> codes;
    std::vector<std::string> prefixes;
    std::vector<std::regex> regexes;
    std::vector<std::set<std::string>> examples;
  };
  std::vector<Entry> entries_;
};

struct Fixture {
  std::shared_ptr<const Catalog> catalog;
  std::unique_ptr<NaiveMatcher> naive;
};

const Fixture& fixture(std::size_t entries, Vocabulary vocabulary) {
  static std::map<std::pair<std::size_t, Vocabulary>, Fixture> fixtures;
  const auto key = std::make_pair(entries, vocabulary);
  auto it = fixtures.find(key);
  if (it == fixtures.end()) {
    Fixture f;
    auto load = parse_catalog(synthetic_catalog(entries, vocabulary));
    if (!load.ok()) std::abort();
    f.catalog = load.catalog;
    f.naive = std::make_unique<NaiveMatcher>(*f.catalog);
    it = fixtures.emplace(key, std::move(f)).first;
  }
  return it->second;
}

struct Case {
  const char* name;
  Vocabulary vocabulary;
  MatchType expected;
  std::string code;
  std::string message;
};

// Inputs that hit the entry in the middle of the catalog, so the naive loop does typical work.
std::vector<Case> cases(std::size_t entries) {
  const std::size_t mid = entries / 2;
  const std::string w0 = word(mid, 0);
  const std::string w1 = word(mid, 1);
  const std::string w2 = word(mid, 2);
  // The realistic example with its last shared word replaced: similarity 6/8.
  std::string near = w1 + " " + w2;
  for (std::size_t i = 0; i < 4; ++i) near += " " + skewed_common_word(mid, 0, i);
  near += " unheardof";
  return {
      {"exact", Vocabulary::realistic, MatchType::exact, "  " + w0 + "_failed",
       "the " + w0 + " service failed while processing job 8812"},
      {"prefix", Vocabulary::realistic, MatchType::prefix,
       "SYNP_" + std::to_string(mid) + "_TIMEOUT", "call timed out after 3000ms"},
      {"pattern", Vocabulary::realistic, MatchType::pattern, "UNLISTED_CODE",
       "upstream " + w0 + " backend refused connection after 3 attempts"},
      {"fuzzy", Vocabulary::realistic, MatchType::fuzzy, "UNLISTED_CODE", near},
      {"fuzzy_dense", Vocabulary::dense, MatchType::fuzzy, "UNLISTED_CODE",
       w1 + " " + w2 + " worker lost lease on shard 99 while compaction"},
      {"miss", Vocabulary::realistic, MatchType::miss, "UNLISTED_CODE",
       "completely unrelated message about a queue nobody catalogued, id 42"},
  };
}

// 10,000 pseudo-random bytes matching nothing (the API accepts up to 10,000 characters).
std::string hostile_message() {
  std::string out;
  std::uint64_t x = 42;
  while (out.size() < 10'000) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    out.push_back(static_cast<char>(x >> 56));
  }
  return out;
}

void bench_failcat(benchmark::State& state, std::size_t entries, Case c) {
  const Matcher& matcher = fixture(entries, c.vocabulary).catalog->matcher();
  if (matcher.match(c.code, c.message).type != c.expected) {
    state.SkipWithError("unexpected match type");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(matcher.match(c.code, c.message));
}

void bench_naive(benchmark::State& state, std::size_t entries, Case c) {
  const NaiveMatcher& naive = *fixture(entries, c.vocabulary).naive;
  if (naive.match(c.code, c.message) != c.expected) {
    state.SkipWithError("unexpected match type");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(naive.match(c.code, c.message));
}

void bench_build(benchmark::State& state, std::size_t entries) {
  const std::string text = synthetic_catalog(entries, Vocabulary::realistic);
  for (auto _ : state) {
    auto load = parse_catalog(text);
    benchmark::DoNotOptimize(load.catalog);
  }
}

void register_all() {
  for (std::size_t entries : {40u, 1000u, 10000u}) {
    for (const Case& c : cases(entries)) {
      const std::string suffix = "/" + std::string(c.name) + "/" + std::to_string(entries);
      benchmark::RegisterBenchmark(("failcat" + suffix).c_str(), bench_failcat, entries, c)
          ->Unit(benchmark::kNanosecond)
          ->Repetitions(5)
          ->ReportAggregatesOnly(true);
      auto* naive =
          benchmark::RegisterBenchmark(("naive" + suffix).c_str(), bench_naive, entries, c)
              ->Unit(benchmark::kMicrosecond)
              ->Repetitions(5)
              ->ReportAggregatesOnly(true);
      // NOTE: a 10,000-entry naive miss takes tens of milliseconds; a fixed count keeps the run
      // short while still measuring it.
      if (entries == 10000u) naive->Iterations(20);
    }
    // NOTE: no naive counterpart: std::regex over 10,000 bytes for every pattern would take
    // minutes per repetition on the largest catalog.
    const Case hostile{"miss_10kb_binary", Vocabulary::realistic, MatchType::miss, "UNLISTED_CODE",
                       hostile_message()};
    benchmark::RegisterBenchmark(("failcat/miss_10kb_binary/" + std::to_string(entries)).c_str(),
                                 bench_failcat, entries, hostile)
        ->Unit(benchmark::kNanosecond)
        ->Repetitions(5)
        ->ReportAggregatesOnly(true);
    benchmark::RegisterBenchmark(("build_catalog/" + std::to_string(entries)).c_str(), bench_build,
                                 entries)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(entries == 10000u ? 2 : 10)
        ->Repetitions(3)
        ->ReportAggregatesOnly(true);
  }
}

}  // namespace
}  // namespace failcat

int main(int argc, char** argv) {
  failcat::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
