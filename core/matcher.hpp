#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/catalog.hpp"

namespace failcat {

/// Which rule recognised a failure, in the order they are tried.
enum class MatchType { exact, prefix, pattern, fuzzy, miss };

/// The `match_type` column spelling: `exact`, `prefix`, `pattern`, `fuzzy` or `miss`.
std::string_view to_string(MatchType type) noexcept;

inline constexpr double kExactConfidence = 1.0;
inline constexpr double kPrefixConfidence = 0.9;
inline constexpr double kPatternConfidence = 0.8;
/// Fuzzy confidence is this factor times the Jaccard similarity.
inline constexpr double kFuzzyConfidenceFactor = 0.75;
/// Lowest Jaccard similarity that counts as a fuzzy match (3/5).
inline constexpr double kFuzzyThreshold = 0.6;
/// Only this many leading bytes of a message are searched by patterns: every byte of a message
/// the API accepts (10,000 characters of at most 4 UTF-8 bytes each); longer input is cut.
inline constexpr std::size_t kMaxPatternInputBytes = 40'000;

/// What the matcher found. On a miss `entry` is nullptr, `matched_on` empty, confidence 0.
struct MatchResult {
  MatchType type = MatchType::miss;
  double confidence = 0.0;
  /// Points into the catalog snapshot; valid while that snapshot lives.
  const CatalogEntry* entry = nullptr;
  /// The catalog's spelling of the code, prefix, pattern or example that fired.
  std::string matched_on;
};

/// Recognises failures against a fixed set of entries; every index is built in the constructor
/// so `match` only reads. Normally obtained from `Catalog::matcher()`.
///
/// Tiers, first hit wins; codes compared trimmed and ASCII case-insensitively:
/// 1. exact: a hash lookup of the code in all `error_codes`;
/// 2. prefix: the longest of all `code_prefixes` that starts the code (a trie walk);
/// 3. pattern: one RE2 set over all `message_patterns`, run on the message (its first
///    `kMaxPatternInputBytes`); the lowest (entry, pattern) position among the hits wins;
/// 4. fuzzy: Jaccard similarity of the message's token set (`tokenize_message`) against each
///    example's, candidates found through an inverted index with prefix filtering; the best
///    similarity >= 0.6 wins, ties to the earliest example in catalog order;
/// 5. miss.
class Matcher {
 public:
  /// `entries` must outlive the matcher and must not change. Patterns RE2 rejects are skipped
  /// (Catalog never passes one).
  explicit Matcher(const std::vector<CatalogEntry>& entries);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  /// Thread-safe and bounded in time for any input, including binary garbage and invalid
  /// UTF-8. Never throws: if memory runs out mid-match the answer is a miss.
  MatchResult match(std::string_view error_code, std::string_view error_message) const noexcept;

  /// Why the combined pattern set could not be built (empty when it was). Without the set,
  /// patterns are still matched one by one, in catalog order, with the same answers.
  const std::string& pattern_set_error() const noexcept;

 private:
  struct Index;
  std::unique_ptr<const Index> index_;
};

/// Trims ASCII whitespace and upper-cases ASCII letters: the form in which codes are compared.
std::string normalize_code(std::string_view code);

}  // namespace failcat
