// Prints a registry with every metric family populated, so the exposition can be checked with
// `promtool check metrics` as part of the test suite.
#include <iostream>

#include "metrics/metrics.hpp"

int main() {
  failcat::Metrics metrics({"0.0.0-sample",
                            {"/api/v1/failures", "/api/v1/failures/{id}", "/metrics"},
                            {"matcher", "persister"}});
  metrics.match_hit(failcat::MatchType::kExact);
  metrics.match_hit(failcat::MatchType::kFuzzy);
  metrics.match_miss();
  metrics.ingested(3);
  metrics.recovery_succeeded();
  metrics.recovery_failed();
  metrics.persist_dropped(failcat::DropReason::kShutdown);
  metrics.persist_batch(3, 0.004);
  metrics.persist_error();
  metrics.breaker_transition(failcat::BreakerState::kClosed, failcat::BreakerState::kOpen);
  metrics.set_wal_bytes(4096);
  metrics.set_wal_backlog_rows(3);
  metrics.wal_fsync(0.0007);
  metrics.request_started();
  metrics.rejected(failcat::RejectReason::kWalFull);
  metrics.http_request("POST", "/api/v1/failures", 202, 0.0012);
  metrics.http_request("GET", "/api/v1/failures/{id}", 404, 0.0004);
  metrics.http_request("GET", "/no/such/path", 404, 0.0001);
  metrics.actor_restarted("persister");
  metrics.set_catalog_entries(42);
  metrics.catalog_reloaded(failcat::Outcome::kSuccess);
  metrics.aggregator_run(failcat::Outcome::kSuccess);
  metrics.retention_deleted(10);
  metrics.webhook_delivery(failcat::Outcome::kFailure);
  std::cout << metrics.serialize();
  return std::cout.good() ? 0 : 1;
}
