#include "load/server_counts.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

namespace failcat::load {

std::map<std::string, double> parse_prometheus_text(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    // The value follows the last space outside the label set.
    const auto close = line.rfind('}');
    const auto space = line.find(' ', close == std::string::npos ? 0 : close);
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

double metric_sum(const std::map<std::string, double>& series, const std::string& name,
                  const std::string& label) {
  double sum = 0;
  for (auto it = series.lower_bound(name); it != series.end(); ++it) {
    const std::string& key = it->first;
    if (key.compare(0, name.size(), name) != 0) break;
    if (key.size() != name.size() && key[name.size()] != '{') continue;
    if (!label.empty() && key.find(label) == std::string::npos) continue;
    sum += it->second;
  }
  return sum;
}

Result<ServerCounts> fetch_metric_counts(HttpClient& client) {
  auto metrics = client.get("/metrics");
  if (!metrics) return metrics.error();
  if (metrics->status != 200) {
    return Error::unavailable("GET /metrics answered " + std::to_string(metrics->status));
  }
  const auto series = parse_prometheus_text(metrics->body);
  ServerCounts c;
  for (auto t : {MatchType::exact, MatchType::prefix, MatchType::pattern, MatchType::fuzzy}) {
    c.metric_by_tier[static_cast<std::size_t>(t)] = static_cast<std::uint64_t>(metric_sum(
        series, "failure_match_hits_total", "match_type=\"" + std::string(to_string(t)) + "\""));
  }
  c.metric_by_tier[static_cast<std::size_t>(MatchType::miss)] =
      static_cast<std::uint64_t>(metric_sum(series, "failure_match_misses_total"));
  c.persisted_rows = metric_sum(series, "failcat_persisted_rows_total");
  c.ingested = metric_sum(series, "failcat_ingested_total");
  return c;
}

Result<ServerCounts> fetch_server_counts(HttpClient& client) {
  auto counts = fetch_metric_counts(client);
  if (!counts) return counts;
  auto stats = client.get("/api/v1/failures/stats?since_hours=8760");
  if (!stats) return stats.error();
  if (stats->status != 200) {
    return Error::unavailable("GET /api/v1/failures/stats answered " +
                              std::to_string(stats->status) + ": " + stats->body);
  }
  const auto j = nlohmann::json::parse(stats->body, nullptr, false);
  if (!j.is_object()) return Error::unavailable("stats answer is not JSON");
  ServerCounts& c = *counts;
  c.stats_total = j.value("total", std::int64_t{0});
  c.stats_matched = j.value("matched", std::int64_t{0});
  c.stats_missed = j.value("missed", std::int64_t{0});
  if (j.contains("by_match_type") && j["by_match_type"].is_object()) {
    for (const auto& [key, value] : j["by_match_type"].items()) {
      if (const auto t = parse_match_type(key); t && value.is_number_integer()) {
        c.stats_by_tier[static_cast<std::size_t>(*t)] = value.get<std::uint64_t>();
      }
    }
  }
  return counts;
}

}  // namespace failcat::load
