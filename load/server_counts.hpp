#pragma once

#include <map>
#include <string>

#include "core/result.hpp"
#include "load/http_client.hpp"
#include "load/synthetic_failures.hpp"

namespace failcat::load {

/// Prometheus text exposition as series → value (`name{labels}` as written by the server).
std::map<std::string, double> parse_prometheus_text(const std::string& text);

/// The sum of every series of metric `name` whose labels contain `label` (empty: all).
double metric_sum(const std::map<std::string, double>& series, const std::string& name,
                  const std::string& label = {});

/// What a server says it holds: the stats endpoint over the widest window, and the counters of
/// /metrics. Validation compares two snapshots (before and after a run).
struct ServerCounts {
  std::int64_t stats_total = 0;
  std::int64_t stats_matched = 0;
  std::int64_t stats_missed = 0;
  TierCounts stats_by_tier{};
  TierCounts metric_by_tier{};  ///< failure_match_hits_total{match_type} and misses_total.
  double persisted_rows = 0;    ///< failcat_persisted_rows_total.
  double ingested = 0;          ///< failcat_ingested_total.
};

/// Reads /metrics only (cheap: used while waiting for the WAL to drain).
Result<ServerCounts> fetch_metric_counts(HttpClient& client);
/// Reads /metrics and `GET /api/v1/failures/stats?since_hours=8760`.
Result<ServerCounts> fetch_server_counts(HttpClient& client);

}  // namespace failcat::load
