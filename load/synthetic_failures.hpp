#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/catalog.hpp"
#include "core/matcher.hpp"
#include "core/timestamp.hpp"

namespace failcat::load {

/// What `failcat-load generate` draws.
struct GeneratorOptions {
  std::uint64_t seed = 1;
  /// Share of failures no catalog tier recognises; the rest is split evenly over the tiers
  /// the catalog can produce (exact, prefix, pattern, fuzzy).
  double miss_ratio = 0.1;
  int tenants = 1;
  int runs = 10;
  int skills = 8;
  /// Every run id starts with it; empty: `load-<seed in hex>`.
  std::string run_prefix;
  /// Adds `event_id` (`<run_prefix>-<sequence>`) to every line.
  bool event_ids = false;
  /// When > 0, adds `created_at` spread over the `history_hours` before `now`.
  int history_hours = 0;
  Micros now = 0;
};

/// One generated failure: the JSONL object and the tier the catalog gives it.
struct GeneratedFailure {
  nlohmann::json line;
  MatchType expect = MatchType::miss;
  std::string entry_id;  ///< Empty on a miss.
};

/// Number of MatchType values (exact … miss), for per-tier arrays.
inline constexpr std::size_t kTierCount = 5;
using TierCounts = std::array<std::uint64_t, kTierCount>;

/// Draws synthetic failures from a catalog: known codes (exact), codes under a known prefix,
/// messages that hit a pattern, near-copies of examples that only the fuzzy tier recognises,
/// and unknown failures. Every failure is checked against the catalog's own matcher before it
/// is handed out, so its `expect` tier is what the service must answer. The same options and
/// catalog give the same sequence.
///
/// Each line's `context` is `{"load":{"seq":n,"expect":"<tier>","entry":"<id>"|null}}`, so a
/// validator reading the stream back knows what each failure should become.
class FailureGenerator {
 public:
  FailureGenerator(std::shared_ptr<const Catalog> catalog, GeneratorOptions options);

  /// The next failure of the sequence.
  GeneratedFailure next();

  const std::vector<std::string>& tenants() const { return tenants_; }
  const std::string& run_prefix() const { return options_.run_prefix; }
  /// Tiers this catalog can produce (a catalog without prefixes has no prefix tier).
  const std::vector<MatchType>& hit_tiers() const { return hit_tiers_; }

 private:
  struct Candidate {
    std::string code;
    std::string message;
    std::string entry_id;
  };

  void build_pools();
  bool classify(const std::string& code, const std::string& message, MatchType want,
                std::string* entry_id) const;
  std::string neutral_code();
  std::string vary_numbers(const std::string& message);
  std::string nonsense_message();
  Candidate draw(MatchType tier);

  std::shared_ptr<const Catalog> catalog_;
  GeneratorOptions options_;
  std::mt19937_64 rng_;
  std::uint64_t seq_ = 0;
  std::vector<std::string> tenants_;
  std::array<std::vector<Candidate>, kTierCount> pools_;
  std::vector<MatchType> hit_tiers_;
};

/// Parses `exact|prefix|pattern|fuzzy|miss`.
std::optional<MatchType> parse_match_type(const std::string& text);

}  // namespace failcat::load
