#include "core/unmatched_signatures.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/tokenizer.hpp"

namespace failcat {

std::vector<UnmatchedSignature> group_unmatched(const std::vector<UnmatchedMessageCount>& rows,
                                                std::size_t top_n) {
  struct Group {
    std::int64_t count = 0;
    std::map<std::string, std::int64_t> codes;
    std::int64_t best_variant = -1;
    std::string sample;
  };
  // Keyed by signature; failures without a message (an empty signature) group by error code
  // instead, so that each code the catalog lacks shows up on its own.
  std::unordered_map<std::string, Group> groups;
  for (const auto& row : rows) {
    std::string key = message_signature(row.error_message);
    if (key.empty()) key = std::string(1, '\0') + row.error_code;
    auto& g = groups[key];
    g.count += row.count;
    g.codes[row.error_code] += row.count;
    const std::int64_t carried = row.sample_count > 0 ? row.sample_count : row.count;
    if (carried > g.best_variant || (carried == g.best_variant && row.error_message < g.sample)) {
      g.best_variant = carried;
      g.sample = row.error_message;
    }
  }
  std::vector<UnmatchedSignature> out;
  out.reserve(groups.size());
  for (auto& [key, g] : groups) {
    UnmatchedSignature s;
    if (key.empty() || key.front() != '\0') s.signature = key;
    s.count = g.count;
    s.sample_message = std::move(g.sample);
    std::int64_t best = -1;
    for (const auto& [code, n] : g.codes) {  // map order: ties go to the smallest code
      if (n > best) {
        best = n;
        s.error_code = code;
      }
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.signature != b.signature ? a.signature < b.signature : a.error_code < b.error_code;
  });
  if (out.size() > top_n) out.resize(top_n);
  return out;
}

}  // namespace failcat
