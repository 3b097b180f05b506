#include "core/matcher.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>

#include "core/tokenizer.hpp"

namespace failcat {
namespace {

// NOTE: the combined set gets a generous budget because its DFA cache is what keeps the pattern
// tier linear and fast; memory is only taken as states are created, and when the cache still
// runs out the matcher falls back to the single patterns instead of missing.
constexpr std::int64_t kPatternSetMaxMem = std::int64_t{128} << 20;
constexpr std::int64_t kSinglePatternMaxMem = std::int64_t{8} << 20;

// Jaccard >= 3/5, kept as integers so that no rounding decides a borderline example.
constexpr std::uint64_t kThresholdNum = 3;
constexpr std::uint64_t kThresholdDen = 5;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char to_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

RE2::Options pattern_options(std::int64_t max_mem) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(max_mem);
  return options;
}

// Where a matched string lives: entry index and position inside the entry's list.
struct ItemRef {
  std::uint32_t entry = 0;
  std::uint32_t item = 0;
};

struct TrieNode {
  std::vector<std::pair<char, std::uint32_t>> children;  // Sorted by byte.
  std::int32_t prefix = -1;                              // Index into prefixes, or -1.
};

}  // namespace

struct Matcher::Index {
  explicit Index(const std::vector<CatalogEntry>& catalog_entries);

  MatchResult match(std::string_view code, std::string_view message) const;

  MatchResult hit(MatchType type, double confidence, ItemRef ref,
                  const std::vector<std::string> CatalogEntry::*list) const {
    const CatalogEntry& entry = (*entries)[ref.entry];
    return MatchResult{type, confidence, &entry, (entry.*list)[ref.item]};
  }

  void build_codes();
  void build_patterns();
  void build_examples();
  std::int32_t longest_prefix(std::string_view normalized) const;
  std::int32_t first_pattern(std::string_view text) const;
  bool best_example(std::string_view message, std::uint32_t& example, std::uint64_t& inter,
                    std::uint64_t& uni) const;

  const std::vector<CatalogEntry>* entries;

  // Exact tier: normalised code -> where it is. Keys view into `codes`, which never grows after
  // the map is built.
  std::vector<std::string> codes;
  std::vector<ItemRef> code_refs;
  std::unordered_map<std::string_view, std::uint32_t> exact;

  // Prefix tier: a byte trie over normalised prefixes; node 0 is the root.
  std::vector<TrieNode> trie;
  std::vector<ItemRef> prefixes;

  // Pattern tier: set index == position in `patterns` == position in `regexes`, assigned in
  // catalog order so the smallest index is the earliest entry and pattern.
  std::vector<ItemRef> patterns;
  std::vector<std::unique_ptr<RE2>> regexes;
  std::unique_ptr<RE2::Set> set;
  std::string set_error;

  // Fuzzy tier: examples as sorted token-id sets (CSR layout) and the inverted index
  // token -> examples holding it, both in catalog order.
  std::unordered_map<std::string, std::uint32_t> token_ids;
  std::vector<ItemRef> examples;
  std::vector<std::uint32_t> example_offsets;  // examples.size() + 1
  std::vector<std::uint32_t> example_tokens;
  std::vector<std::uint32_t> posting_offsets;  // token_ids.size() + 1
  std::vector<std::uint32_t> postings;
};

Matcher::Index::Index(const std::vector<CatalogEntry>& catalog_entries)
    : entries(&catalog_entries) {
  build_codes();
  build_patterns();
  build_examples();
}

void Matcher::Index::build_codes() {
  trie.emplace_back();
  for (std::uint32_t e = 0; e < entries->size(); ++e) {
    const CatalogEntry& entry = (*entries)[e];
    for (std::uint32_t i = 0; i < entry.error_codes.size(); ++i) {
      std::string code = normalize_code(entry.error_codes[i]);
      if (code.empty() || code.size() > kMaxCodeBytes) continue;
      codes.push_back(std::move(code));
      code_refs.push_back({e, i});
    }
    for (std::uint32_t i = 0; i < entry.code_prefixes.size(); ++i) {
      const std::string prefix = normalize_code(entry.code_prefixes[i]);
      if (prefix.empty() || prefix.size() > kMaxCodeBytes) continue;
      std::uint32_t node = 0;
      for (char c : prefix) {
        auto& children = trie[node].children;
        auto it = std::lower_bound(children.begin(), children.end(), c,
                                   [](const auto& child, char b) { return child.first < b; });
        if (it != children.end() && it->first == c) {
          node = it->second;
        } else {
          const auto next = static_cast<std::uint32_t>(trie.size());
          children.insert(it, {c, next});
          trie.emplace_back();  // May reallocate: `children` is not used after this.
          node = next;
        }
      }
      // A repeated prefix keeps its first (catalog order) owner.
      if (trie[node].prefix < 0) {
        trie[node].prefix = static_cast<std::int32_t>(prefixes.size());
        prefixes.push_back({e, i});
      }
    }
  }
  exact.reserve(codes.size());
  for (std::uint32_t i = 0; i < codes.size(); ++i) exact.emplace(codes[i], i);
}

void Matcher::Index::build_patterns() {
  set = std::make_unique<RE2::Set>(pattern_options(kPatternSetMaxMem), RE2::UNANCHORED);
  for (std::uint32_t e = 0; e < entries->size(); ++e) {
    const CatalogEntry& entry = (*entries)[e];
    for (std::uint32_t i = 0; i < entry.message_patterns.size(); ++i) {
      const std::string& pattern = entry.message_patterns[i];
      auto re = std::make_unique<RE2>(pattern, pattern_options(kSinglePatternMaxMem));
      if (!re->ok()) continue;
      std::string error;
      if (set && set->Add(pattern, &error) < 0) {
        set_error = "pattern '" + pattern + "' does not fit the pattern set: " + error;
        set.reset();
      }
      patterns.push_back({e, i});
      regexes.push_back(std::move(re));
    }
  }
  if (patterns.empty()) {
    set.reset();
  } else if (set && !set->Compile()) {
    set_error = "the combined pattern set exceeds its memory budget";
    set.reset();
  }
}

void Matcher::Index::build_examples() {
  std::vector<std::vector<std::uint32_t>> lists;  // token id -> examples
  example_offsets.push_back(0);
  for (std::uint32_t e = 0; e < entries->size(); ++e) {
    const CatalogEntry& entry = (*entries)[e];
    for (std::uint32_t i = 0; i < entry.examples.size(); ++i) {
      std::vector<std::string> tokens = tokenize_message(entry.examples[i]);
      std::sort(tokens.begin(), tokens.end());
      tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
      if (tokens.empty()) continue;
      const auto example = static_cast<std::uint32_t>(examples.size());
      examples.push_back({e, i});
      std::vector<std::uint32_t> ids;
      ids.reserve(tokens.size());
      for (auto& token : tokens) {
        const auto [it, inserted] =
            token_ids.emplace(std::move(token), static_cast<std::uint32_t>(lists.size()));
        if (inserted) lists.emplace_back();
        lists[it->second].push_back(example);
        ids.push_back(it->second);
      }
      std::sort(ids.begin(), ids.end());
      example_tokens.insert(example_tokens.end(), ids.begin(), ids.end());
      example_offsets.push_back(static_cast<std::uint32_t>(example_tokens.size()));
    }
  }
  posting_offsets.reserve(lists.size() + 1);
  posting_offsets.push_back(0);
  for (const auto& list : lists) {
    postings.insert(postings.end(), list.begin(), list.end());
    posting_offsets.push_back(static_cast<std::uint32_t>(postings.size()));
  }
}

std::int32_t Matcher::Index::longest_prefix(std::string_view normalized) const {
  std::int32_t best = -1;
  std::uint32_t node = 0;
  for (char c : normalized) {
    const auto& children = trie[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), c,
                               [](const auto& child, char b) { return child.first < b; });
    if (it == children.end() || it->first != c) break;
    node = it->second;
    if (trie[node].prefix >= 0) best = trie[node].prefix;
  }
  return best;
}

std::int32_t Matcher::Index::first_pattern(std::string_view text) const {
  if (patterns.empty()) return -1;
  if (set) {
    std::vector<int> hits;
    RE2::Set::ErrorInfo info{RE2::Set::kNoError};
    if (set->Match(re2::StringPiece(text.data(), text.size()), &hits, &info)) {
      return hits.empty() ? -1 : *std::min_element(hits.begin(), hits.end());
    }
    if (info.kind == RE2::Set::kNoError) return -1;
    // The set's DFA gave up (cache exhausted by a hostile message): ask each pattern instead.
  }
  const re2::StringPiece piece(text.data(), text.size());
  for (std::size_t i = 0; i < regexes.size(); ++i) {
    if (RE2::PartialMatch(piece, *regexes[i])) return static_cast<std::int32_t>(i);
  }
  return -1;
}

// Finds the example with the highest Jaccard similarity >= 3/5 to the message's token set.
// Prefix filtering: a set B with |A∩B| >= ceil(3|A|/5) must share one of A's first
// |A| - ceil(3|A|/5) + 1 tokens, in any order of A; taking A's rarest tokens first keeps the
// candidate lists short. Tokens no example holds are the rarest of all and produce no candidate.
bool Matcher::Index::best_example(std::string_view message, std::uint32_t& example,
                                  std::uint64_t& inter, std::uint64_t& uni) const {
  if (examples.empty()) return false;
  std::vector<std::string> tokens = tokenize_message(message);
  if (tokens.empty()) return false;
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());

  const std::uint64_t a_size = tokens.size();
  std::vector<std::uint32_t> known;
  known.reserve(tokens.size());
  for (const auto& token : tokens) {
    auto it = token_ids.find(token);
    if (it != token_ids.end()) known.push_back(it->second);
  }
  const std::uint64_t unknown = a_size - known.size();
  const std::uint64_t needed = (kThresholdNum * a_size + kThresholdDen - 1) / kThresholdDen;
  const std::uint64_t prefix_len = a_size - needed + 1;
  if (unknown >= prefix_len) return false;
  const std::size_t probe = static_cast<std::size_t>(prefix_len - unknown);

  auto frequency = [this](std::uint32_t t) { return posting_offsets[t + 1] - posting_offsets[t]; };
  std::vector<std::uint32_t> by_rarity = known;
  std::partial_sort(by_rarity.begin(), by_rarity.begin() + static_cast<std::ptrdiff_t>(probe),
                    by_rarity.end(), [&](std::uint32_t x, std::uint32_t y) {
                      const auto fx = frequency(x);
                      const auto fy = frequency(y);
                      return fx != fy ? fx < fy : x < y;
                    });
  std::sort(known.begin(), known.end());

  bool found = false;
  for (std::size_t k = 0; k < probe; ++k) {
    const std::uint32_t t = by_rarity[k];
    for (std::uint32_t p = posting_offsets[t]; p < posting_offsets[t + 1]; ++p) {
      const std::uint32_t candidate = postings[p];
      const std::uint32_t* b = example_tokens.data() + example_offsets[candidate];
      const std::uint32_t* b_end = example_tokens.data() + example_offsets[candidate + 1];
      const auto b_size = static_cast<std::uint64_t>(b_end - b);
      // |B| must lie within [3|A|/5, 5|A|/3] for the similarity to reach 3/5.
      if (kThresholdDen * b_size < kThresholdNum * a_size ||
          kThresholdNum * b_size > kThresholdDen * a_size) {
        continue;
      }
      // An example holding an earlier probe token was already scored from that token's list.
      bool seen = false;
      for (std::size_t j = 0; j < k && !seen; ++j) {
        seen = std::binary_search(b, b_end, by_rarity[j]);
      }
      if (seen) continue;
      // Jaccard >= 3/5 <=> 8 * common >= 3 * (|A| + |B|): stop once that is out of reach.
      constexpr std::uint64_t kSum = kThresholdNum + kThresholdDen;
      const std::uint64_t need = (kThresholdNum * (a_size + b_size) + kSum - 1) / kSum;
      std::uint64_t common = 0;
      auto a = known.begin();
      while (a != known.end() && b != b_end) {
        const auto left =
            static_cast<std::uint64_t>(std::min<std::ptrdiff_t>(known.end() - a, b_end - b));
        if (common + left < need) break;
        if (*a < *b) {
          ++a;
        } else if (*b < *a) {
          ++b;
        } else {
          ++common;
          ++a;
          ++b;
        }
      }
      const std::uint64_t all = a_size + b_size - common;
      if (kThresholdDen * common < kThresholdNum * all) continue;
      const std::uint64_t lhs = common * uni;
      const std::uint64_t rhs = inter * all;
      if (!found || lhs > rhs || (lhs == rhs && candidate < example)) {
        found = true;
        example = candidate;
        inter = common;
        uni = all;
      }
    }
  }
  return found;
}

MatchResult Matcher::Index::match(std::string_view code, std::string_view message) const {
  const std::string_view trimmed = trim(code);
  char buffer[kMaxCodeBytes];
  const std::size_t length = std::min(trimmed.size(), sizeof buffer);
  for (std::size_t i = 0; i < length; ++i) buffer[i] = to_upper(trimmed[i]);
  const std::string_view normalized(buffer, length);

  // Catalog codes are at most kMaxCodeBytes long, so a longer code cannot equal one, but it can
  // still start with a prefix.
  if (trimmed.size() <= kMaxCodeBytes) {
    auto it = exact.find(normalized);
    if (it != exact.end()) {
      return hit(MatchType::exact, kExactConfidence, code_refs[it->second],
                 &CatalogEntry::error_codes);
    }
  }
  if (const std::int32_t p = longest_prefix(normalized); p >= 0) {
    return hit(MatchType::prefix, kPrefixConfidence, prefixes[static_cast<std::size_t>(p)],
               &CatalogEntry::code_prefixes);
  }
  if (const std::int32_t p = first_pattern(message.substr(0, kMaxPatternInputBytes)); p >= 0) {
    return hit(MatchType::pattern, kPatternConfidence, patterns[static_cast<std::size_t>(p)],
               &CatalogEntry::message_patterns);
  }
  std::uint32_t example = 0;
  std::uint64_t inter = 0;
  std::uint64_t uni = 1;
  if (best_example(message, example, inter, uni)) {
    const double similarity = static_cast<double>(inter) / static_cast<double>(uni);
    return hit(MatchType::fuzzy, kFuzzyConfidenceFactor * similarity, examples[example],
               &CatalogEntry::examples);
  }
  return MatchResult{};
}

Matcher::Matcher(const std::vector<CatalogEntry>& entries)
    : index_(std::make_unique<const Index>(entries)) {}

Matcher::~Matcher() = default;

MatchResult Matcher::match(std::string_view error_code,
                           std::string_view error_message) const noexcept {
  // NOTE: only allocation can throw in here; under memory exhaustion a miss is a better answer
  // for the caller than a terminated process.
  try {
    return index_->match(error_code, error_message);
  } catch (...) {
    return MatchResult{};
  }
}

const std::string& Matcher::pattern_set_error() const noexcept {
  return index_->set_error;
}

std::string_view to_string(MatchType type) noexcept {
  switch (type) {
    case MatchType::exact:
      return "exact";
    case MatchType::prefix:
      return "prefix";
    case MatchType::pattern:
      return "pattern";
    case MatchType::fuzzy:
      return "fuzzy";
    case MatchType::miss:
      return "miss";
  }
  return "miss";
}

std::string normalize_code(std::string_view code) {
  std::string out(trim(code));
  for (auto& c : out) c = to_upper(c);
  return out;
}

}  // namespace failcat
