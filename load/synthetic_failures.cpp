#include "load/synthetic_failures.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "core/uuid.hpp"

namespace failcat::load {
namespace {

/// A neutral code verified to reach no code tier; pool candidates are classified with it.
constexpr const char* kPoolCode = "SYNTHETIC_LOAD_FAILURE";

std::size_t tier_index(MatchType t) {
  return static_cast<std::size_t>(t);
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string join_words(const std::vector<std::string>& words, std::size_t skip) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i == skip) continue;
    if (!out.empty()) out += ' ';
    out += words[i];
  }
  return out;
}

}  // namespace

std::optional<MatchType> parse_match_type(const std::string& text) {
  for (auto t : {MatchType::exact, MatchType::prefix, MatchType::pattern, MatchType::fuzzy,
                 MatchType::miss}) {
    if (to_string(t) == text) return t;
  }
  return std::nullopt;
}

FailureGenerator::FailureGenerator(std::shared_ptr<const Catalog> catalog, GeneratorOptions options)
    : catalog_(std::move(catalog)), options_(std::move(options)), rng_(options_.seed) {
  if (options_.run_prefix.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "load-%llx", static_cast<unsigned long long>(options_.seed));
    options_.run_prefix = buf;
  }
  options_.tenants = std::max(1, options_.tenants);
  options_.runs = std::max(1, options_.runs);
  options_.skills = std::max(1, options_.skills);
  for (int i = 0; i < options_.tenants; ++i) {
    char buf[40];
    const std::uint64_t a = rng_();
    const std::uint64_t b = rng_();
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-8%03llx-%012llx",
                  static_cast<unsigned long long>(a >> 32),
                  static_cast<unsigned long long>((a >> 16) & 0xffff),
                  static_cast<unsigned long long>(a & 0xfff),
                  static_cast<unsigned long long>(b >> 52),
                  static_cast<unsigned long long>(b & 0xffffffffffffull));
    tenants_.push_back(buf);
  }
  build_pools();
}

bool FailureGenerator::classify(const std::string& code, const std::string& message, MatchType want,
                                std::string* entry_id) const {
  const auto m = catalog_->matcher().match(code, message);
  if (m.type != want) return false;
  if (entry_id) *entry_id = m.entry ? m.entry->id : std::string();
  return true;
}

void FailureGenerator::build_pools() {
  if (!classify(kPoolCode, "", MatchType::miss, nullptr)) {
    throw std::runtime_error(std::string("the catalog recognises the neutral code ") + kPoolCode);
  }
  std::string entry;
  for (const auto& e : catalog_->entries()) {
    const std::string sample = e.examples.empty() ? std::string() : e.examples.front();
    for (const auto& code : e.error_codes) {
      if (classify(code, sample, MatchType::exact, &entry)) {
        pools_[tier_index(MatchType::exact)].push_back({code, sample, entry});
      }
    }
    for (const auto& prefix : e.code_prefixes) {
      const std::string code = prefix + "LOAD7";
      if (classify(code, sample, MatchType::prefix, &entry)) {
        pools_[tier_index(MatchType::prefix)].push_back({code, sample, entry});
      }
    }
    for (const auto& example : e.examples) {
      // The example itself, and each copy with one word left out: leaving out the word a
      // pattern needs while keeping most tokens is what makes a fuzzy-only message.
      const auto words = split_words(example);
      std::vector<std::string> variants{example};
      for (std::size_t i = 0; i < words.size() && words.size() > 3; ++i) {
        variants.push_back(join_words(words, i));
      }
      for (const auto& v : variants) {
        const auto m = catalog_->matcher().match(kPoolCode, v);
        if (m.type == MatchType::pattern || m.type == MatchType::fuzzy) {
          pools_[tier_index(m.type)].push_back({kPoolCode, v, m.entry->id});
        }
      }
    }
  }
  for (auto t : {MatchType::exact, MatchType::prefix, MatchType::pattern, MatchType::fuzzy}) {
    if (!pools_[tier_index(t)].empty()) hit_tiers_.push_back(t);
  }
}

std::string FailureGenerator::neutral_code() {
  static constexpr const char* kWords[] = {"WORKER", "STEP", "TASK", "AGENT", "JOB", "NODE"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "SYNTH_%s_%04llu", kWords[rng_() % 6],
                static_cast<unsigned long long>(rng_() % 10000));
  return buf;
}

std::string FailureGenerator::vary_numbers(const std::string& message) {
  std::string out = message;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] < '0' || out[i] > '9') continue;
    const bool first = i == 0 || out[i - 1] < '0' || out[i - 1] > '9';
    const bool longer = i + 1 < out.size() && out[i + 1] >= '0' && out[i + 1] <= '9';
    out[i] = static_cast<char>((first && longer ? '1' : '0') + rng_() % (first && longer ? 9 : 10));
  }
  return out;
}

std::string FailureGenerator::nonsense_message() {
  static constexpr const char* kSyllables[] = {"ka",  "zu",  "vor", "mip", "tel", "qua",
                                               "rix", "lon", "bep", "dro", "fyn", "gat"};
  std::string out = "synthetic";
  const int words = 5 + static_cast<int>(rng_() % 4);
  for (int w = 0; w < words; ++w) {
    out += ' ';
    const int parts = 2 + static_cast<int>(rng_() % 2);
    for (int p = 0; p < parts; ++p) out += kSyllables[rng_() % 12];
  }
  out += " at offset " + std::to_string(rng_() % 100000);
  return out;
}

FailureGenerator::Candidate FailureGenerator::draw(MatchType tier) {
  if (tier == MatchType::miss) {
    for (int attempt = 0; attempt < 16; ++attempt) {
      Candidate c{neutral_code(), nonsense_message(), {}};
      if (classify(c.code, c.message, MatchType::miss, nullptr)) return c;
    }
    throw std::runtime_error("could not draw a message the catalog does not recognise");
  }
  const auto& pool = pools_[tier_index(tier)];
  const Candidate& base = pool[rng_() % pool.size()];
  Candidate c = base;
  switch (tier) {
    case MatchType::exact:
      // Codes are matched case-insensitively: send some in lower case.
      if (rng_() % 4 == 0) {
        for (auto& ch : c.code)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      break;
    case MatchType::prefix: {
      char suffix[16];
      std::snprintf(suffix, sizeof suffix, "%llu", static_cast<unsigned long long>(rng_() % 1000));
      c.code = base.code + suffix;
      break;
    }
    default:
      c.code = neutral_code();
      c.message = vary_numbers(base.message);
      break;
  }
  if (classify(c.code, c.message, tier, &c.entry_id)) return c;
  return base;  // Verified when the pool was built.
}

GeneratedFailure FailureGenerator::next() {
  const std::uint64_t n = seq_++;
  MatchType tier = MatchType::miss;
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  if (u >= options_.miss_ratio && !hit_tiers_.empty()) {
    tier = hit_tiers_[rng_() % hit_tiers_.size()];
  }
  const Candidate c = draw(tier);

  GeneratedFailure g;
  g.expect = tier;
  g.entry_id = c.entry_id;
  auto& line = g.line;
  line["run_id"] = options_.run_prefix + "-run-" + std::to_string(rng_() % options_.runs);
  line["tenant_id"] = tenants_[rng_() % tenants_.size()];
  line["error_code"] = c.code;
  if (!c.message.empty()) line["error_message"] = c.message;
  line["skill_id"] = "skill-" + std::to_string(rng_() % options_.skills);
  line["step_index"] = static_cast<int>(rng_() % 20);
  line["context"] = {
      {"load",
       {{"seq", n},
        {"expect", std::string(to_string(tier))},
        {"entry", c.entry_id.empty() ? nlohmann::json() : nlohmann::json(c.entry_id)}}}};
  if (options_.event_ids) line["event_id"] = options_.run_prefix + "-" + std::to_string(n);
  if (options_.history_hours > 0) {
    const auto span = static_cast<std::uint64_t>(options_.history_hours) * kMicrosPerHour;
    line["created_at"] = format_rfc3339(options_.now - static_cast<Micros>(rng_() % span) - 1);
  }
  return g;
}

}  // namespace failcat::load
