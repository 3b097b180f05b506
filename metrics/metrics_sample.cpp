// Prints a registry with every metric family populated, so the exposition can be checked with
// `promtool check metrics` as part of the test suite.
#include <iostream>

#include "metrics/metrics.hpp"

int main() {
  using M = failcat::Metrics;
  M metrics({"0.0.0-sample",
             {"/api/v1/failures", "/api/v1/failures/{id}", "/metrics"},
             {"matcher", "persister"}});
  metrics.match_hit(M::MatchType::exact);
  metrics.match_hit(M::MatchType::fuzzy);
  metrics.match_miss();
  metrics.ingested(3);
  metrics.recovery_succeeded();
  metrics.recovery_failed();
  metrics.persist_dropped(M::DropReason::shutdown);
  metrics.persist_batch(3, 0.004);
  metrics.persisted(3);
  metrics.persist_error();
  metrics.breaker_transition(M::BreakerState::closed, M::BreakerState::open);
  metrics.set_wal_bytes(4096);
  metrics.set_wal_backlog_rows(3);
  metrics.wal_fsync(0.0007);
  metrics.request_started();
  metrics.rejected(M::RejectReason::wal_full);
  metrics.http_request("POST", "/api/v1/failures", 202, 0.0012);
  metrics.http_request("GET", "/api/v1/failures/{id}", 404, 0.0004);
  metrics.http_request("GET", "/no/such/path", 404, 0.0001);
  metrics.actor_restarted("persister");
  metrics.set_catalog_entries(42);
  metrics.catalog_reloaded(M::Outcome::success);
  metrics.aggregator_run(M::Outcome::success);
  metrics.retention_deleted(10);
  metrics.webhook_delivery(M::Outcome::failure);
  std::cout << metrics.serialize();
  return std::cout.good() ? 0 : 1;
}
