#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <sstream>
#include <thread>

namespace failcat {
namespace {

// The value of the sample whose name and label set are exactly `series` (labels in the
// alphabetical order the exposition uses), or nullopt when there is no such line.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

// Every distinct value the exposition shows for `label` on series of `family`.
std::set<std::string> label_values(const std::string& text, const std::string& family,
                                   const std::string& label) {
  std::set<std::string> values;
  std::istringstream lines(text);
  std::string line;
  const std::string key = label + "=\"";
  while (std::getline(lines, line)) {
    if (line.rfind(family + "{", 0) != 0) continue;
    const auto start = line.find(key);
    if (start == std::string::npos) continue;
    const auto from = start + key.size();
    values.insert(line.substr(from, line.find('"', from) - from));
  }
  return values;
}

MetricsOptions options() {
  MetricsOptions result;
  result.version = "1.2.3";
  result.route_templates = {"/api/v1/failures", "/api/v1/failures/{id}"};
  result.actor_names = {"persister"};
  return result;
}

TEST(Metrics, MatchCountersMoveExactly) {
  Metrics metrics(options());
  for (int i = 0; i < 3; ++i) metrics.match_hit(Metrics::MatchType::exact);
  metrics.match_hit(Metrics::MatchType::prefix);
  for (int i = 0; i < 2; ++i) metrics.match_hit(Metrics::MatchType::fuzzy);
  for (int i = 0; i < 5; ++i) metrics.match_miss();
  metrics.ingested(11);

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, R"(failure_match_hits_total{match_type="exact"})"), 3.0);
  EXPECT_EQ(sample(text, R"(failure_match_hits_total{match_type="prefix"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failure_match_hits_total{match_type="pattern"})"), 0.0);
  EXPECT_EQ(sample(text, R"(failure_match_hits_total{match_type="fuzzy"})"), 2.0);
  EXPECT_EQ(sample(text, "failure_match_misses_total"), 5.0);
  EXPECT_EQ(sample(text, "failcat_ingested_total"), 11.0);
}

TEST(Metrics, RecoveryAndPersistCountersMoveExactly) {
  Metrics metrics(options());
  metrics.recovery_succeeded();
  metrics.recovery_succeeded(4);
  metrics.recovery_failed(2);
  metrics.persist_dropped(Metrics::DropReason::breaker_open, 7);
  metrics.persist_dropped(Metrics::DropReason::shutdown);
  metrics.persist_batch(100, 0.02);
  metrics.persist_batch(3, 0.003);
  metrics.persisted(101);  // two of the 103 sent were already stored
  metrics.persist_error();
  metrics.retention_deleted(250);

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, "recovery_success_total"), 5.0);
  EXPECT_EQ(sample(text, "recovery_failure_total"), 2.0);
  EXPECT_EQ(sample(text, R"(failure_persist_dropped_total{reason="breaker_open"})"), 7.0);
  EXPECT_EQ(sample(text, R"(failure_persist_dropped_total{reason="shutdown"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failure_persist_dropped_total{reason="timeout"})"), 0.0);
  EXPECT_EQ(sample(text, "failcat_persisted_rows_total"), 101.0);
  EXPECT_EQ(sample(text, "failcat_persist_batch_rows_count"), 2.0);
  EXPECT_EQ(sample(text, "failcat_persist_batch_rows_sum"), 103.0);
  EXPECT_EQ(sample(text, "failcat_persist_errors_total"), 1.0);
  EXPECT_EQ(sample(text, "failcat_retention_deleted_rows_total"), 250.0);
  EXPECT_EQ(label_values(text, "failure_persist_dropped_total", "reason"),
            (std::set<std::string>{"breaker_open", "error", "restart", "shutdown", "timeout",
                                   "wal_error"}));
}

TEST(Metrics, BreakerGaugeFollowsTransitions) {
  Metrics metrics(options());
  EXPECT_EQ(sample(metrics.serialize(), "failcat_breaker_state"), 0.0);

  metrics.breaker_transition(Metrics::BreakerState::closed, Metrics::BreakerState::open);
  EXPECT_EQ(sample(metrics.serialize(), "failcat_breaker_state"), 1.0);
  metrics.breaker_transition(Metrics::BreakerState::open, Metrics::BreakerState::half_open);
  EXPECT_EQ(sample(metrics.serialize(), "failcat_breaker_state"), 2.0);
  metrics.breaker_transition(Metrics::BreakerState::half_open, Metrics::BreakerState::open);
  metrics.breaker_transition(Metrics::BreakerState::open, Metrics::BreakerState::half_open);
  metrics.breaker_transition(Metrics::BreakerState::half_open, Metrics::BreakerState::closed);
  metrics.breaker_transition(Metrics::BreakerState::closed, Metrics::BreakerState::closed);

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, "failcat_breaker_state"), 0.0);
  EXPECT_EQ(sample(text, R"(failcat_breaker_transitions_total{from="closed",to="open"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_breaker_transitions_total{from="open",to="half_open"})"), 2.0);
  EXPECT_EQ(sample(text, R"(failcat_breaker_transitions_total{from="half_open",to="open"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_breaker_transitions_total{from="half_open",to="closed"})"),
            1.0);
  EXPECT_EQ(sample(text, R"(failcat_breaker_transitions_total{from="closed",to="closed"})"),
            std::nullopt);
}

TEST(Metrics, WalAdmissionAndCatalogGauges) {
  Metrics metrics(options());
  metrics.set_wal_bytes(1 << 20);
  metrics.set_wal_unpersisted_bytes(4096);
  metrics.set_wal_backlog_rows(1500);
  metrics.set_wal_backlog_rows(1200);
  metrics.wal_fsync(0.0003);
  metrics.request_started();
  metrics.request_started();
  metrics.request_finished();
  metrics.rejected(Metrics::RejectReason::wal_full);
  metrics.rejected(Metrics::RejectReason::wal_full);
  metrics.rejected(Metrics::RejectReason::shutting_down);
  metrics.set_catalog_entries(44);
  metrics.catalog_reloaded(Metrics::Outcome::success);
  metrics.catalog_reloaded(Metrics::Outcome::failure);
  metrics.catalog_reloaded(Metrics::Outcome::failure);
  metrics.aggregator_run(Metrics::Outcome::success);
  metrics.webhook_delivery(Metrics::Outcome::failure);

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, "failcat_wal_bytes"), 1048576.0);
  EXPECT_EQ(sample(text, "failcat_wal_unpersisted_bytes"), 4096.0);
  EXPECT_EQ(sample(text, "failcat_wal_backlog_rows"), 1200.0);
  EXPECT_EQ(sample(text, "failcat_wal_fsync_seconds_count"), 1.0);
  EXPECT_EQ(sample(text, "failcat_inflight_requests"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_rejected_total{reason="wal_full"})"), 2.0);
  EXPECT_EQ(sample(text, R"(failcat_rejected_total{reason="shutting_down"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_rejected_total{reason="overloaded"})"), 0.0);
  EXPECT_EQ(sample(text, "failcat_catalog_entries"), 44.0);
  EXPECT_EQ(sample(text, R"(failcat_catalog_reloads_total{outcome="success"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_catalog_reloads_total{outcome="failure"})"), 2.0);
  EXPECT_EQ(sample(text, R"(failcat_aggregator_runs_total{outcome="success"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_webhook_deliveries_total{outcome="failure"})"), 1.0);
}

TEST(Metrics, StatusMapsToItsClass) {
  EXPECT_EQ(http_status_class(100), "1xx");
  EXPECT_EQ(http_status_class(200), "2xx");
  EXPECT_EQ(http_status_class(202), "2xx");
  EXPECT_EQ(http_status_class(304), "3xx");
  EXPECT_EQ(http_status_class(404), "4xx");
  EXPECT_EQ(http_status_class(499), "4xx");
  EXPECT_EQ(http_status_class(503), "5xx");
  EXPECT_EQ(http_status_class(599), "5xx");
  EXPECT_EQ(http_status_class(0), "5xx");
  EXPECT_EQ(http_status_class(99), "5xx");
  EXPECT_EQ(http_status_class(600), "5xx");
  EXPECT_EQ(http_status_class(-1), "5xx");
}

TEST(Metrics, MethodLabelIsBounded) {
  EXPECT_EQ(http_method_label("GET"), "GET");
  EXPECT_EQ(http_method_label("PATCH"), "PATCH");
  EXPECT_EQ(http_method_label("get"), "OTHER");
  EXPECT_EQ(http_method_label("BREW"), "OTHER");
  EXPECT_EQ(http_method_label(""), "OTHER");
}

TEST(Metrics, HttpRequestsCountedByMethodRouteAndStatusClass) {
  Metrics metrics(options());
  metrics.http_request("POST", "/api/v1/failures", 202, 0.001);
  metrics.http_request("POST", "/api/v1/failures", 202, 0.002);
  metrics.http_request("POST", "/api/v1/failures", 400, 0.0005);
  metrics.http_request("GET", "/api/v1/failures/{id}", 404, 0.0007);
  const HttpRouteMetrics& route = metrics.http_route("GET", "/api/v1/failures/{id}");
  route.observe(200, 0.0009);
  route.observe(503, 0.002);

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, R"(failcat_http_requests_total{method="POST",route="/api/v1/failures",)"
                         R"(status_class="2xx"})"),
            2.0);
  EXPECT_EQ(sample(text, R"(failcat_http_requests_total{method="POST",route="/api/v1/failures",)"
                         R"(status_class="4xx"})"),
            1.0);
  EXPECT_EQ(sample(text, R"(failcat_http_requests_total{method="POST",route="/api/v1/failures",)"
                         R"(status_class="5xx"})"),
            0.0);
  for (const char* cls : {"2xx", "4xx", "5xx"}) {
    EXPECT_EQ(sample(text, std::string(R"(failcat_http_requests_total{method="GET",)") +
                               R"(route="/api/v1/failures/{id}",status_class=")" + cls + "\"}"),
              1.0)
        << cls;
  }
  EXPECT_EQ(sample(text, R"(failcat_http_request_duration_seconds_count{method="POST",)"
                         R"(route="/api/v1/failures"})"),
            3.0);
  EXPECT_EQ(sample(text, R"(failcat_http_request_duration_seconds_count{method="GET",)"
                         R"(route="/api/v1/failures/{id}"})"),
            3.0);
  EXPECT_EQ(&route, &metrics.http_route("GET", "/api/v1/failures/{id}"));
}

TEST(Metrics, UndeclaredRoutesAndMethodsCannotMintLabels) {
  Metrics metrics(options());
  for (int i = 0; i < 100; ++i) {
    metrics.http_request("GET", "/api/v1/failures/" + std::to_string(i), 404, 0.0001);
    metrics.http_request("X-" + std::to_string(i), "/api/v1/failures", 405, 0.0001);
  }

  const std::string text = metrics.serialize();
  EXPECT_EQ(label_values(text, "failcat_http_requests_total", "route"),
            (std::set<std::string>{"/api/v1/failures", "unmatched"}));
  EXPECT_EQ(label_values(text, "failcat_http_requests_total", "method"),
            (std::set<std::string>{"GET", "OTHER"}));
  EXPECT_EQ(label_values(text, "failcat_http_requests_total", "status_class"),
            (std::set<std::string>{"1xx", "2xx", "3xx", "4xx", "5xx"}));
  EXPECT_EQ(sample(text, R"(failcat_http_requests_total{method="GET",route="unmatched",)"
                         R"(status_class="4xx"})"),
            100.0);
  EXPECT_EQ(sample(text, R"(failcat_http_requests_total{method="OTHER",route="/api/v1/failures",)"
                         R"(status_class="4xx"})"),
            100.0);
}

TEST(Metrics, ActorRestartLabelsAreBounded) {
  Metrics metrics(options());
  EXPECT_EQ(sample(metrics.serialize(), R"(failcat_actor_restarts_total{actor="persister"})"), 0.0);
  metrics.actor_restarted("persister");
  metrics.actor_restarted("persister");
  metrics.actor_restarted("Storage-7f3a");
  metrics.actor_restarted("");
  for (std::size_t i = 0; i < 2 * Metrics::kMaxActorNames; ++i) {
    metrics.actor_restarted("storage_" + std::to_string(i));
  }

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, R"(failcat_actor_restarts_total{actor="persister"})"), 2.0);
  const auto actors = label_values(text, "failcat_actor_restarts_total", "actor");
  EXPECT_LE(actors.size(), Metrics::kMaxActorNames + 1);
  ASSERT_EQ(actors.count("other"), 1u);
  // Two malformed names plus the names past the cap ("persister" and "other" take two slots).
  const double folded =
      2.0 + static_cast<double>(2 * Metrics::kMaxActorNames - (Metrics::kMaxActorNames - 2));
  EXPECT_EQ(sample(text, R"(failcat_actor_restarts_total{actor="other"})"), folded);
}

TEST(Metrics, HistogramsExposeTheirBuckets) {
  Metrics metrics(options());
  metrics.persist_batch(7, 0.03);
  metrics.persist_batch(8000, 1.5);  // a backlog batch, 16 times the configured size
  metrics.wal_fsync(0.0004);
  metrics.http_request("POST", "/api/v1/failures", 202, 0.0012);

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, R"(failcat_persist_batch_rows_bucket{le="5"})"), 0.0);
  EXPECT_EQ(sample(text, R"(failcat_persist_batch_rows_bucket{le="10"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_persist_batch_rows_bucket{le="5000"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_persist_batch_rows_bucket{le="10000"})"), 2.0);
  EXPECT_EQ(sample(text, R"(failcat_persist_batch_rows_bucket{le="+Inf"})"), 2.0);
  EXPECT_EQ(sample(text, R"(failcat_persist_batch_seconds_bucket{le="0.025"})"), 0.0);
  EXPECT_EQ(sample(text, R"(failcat_persist_batch_seconds_bucket{le="0.05"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_wal_fsync_seconds_bucket{le="0.0005"})"), 1.0);
  EXPECT_EQ(sample(text, R"(failcat_wal_fsync_seconds_bucket{le="0.00025"})"), 0.0);
  EXPECT_EQ(sample(text, R"(failcat_http_request_duration_seconds_bucket{method="POST",)"
                         R"(route="/api/v1/failures",le="0.0025"})"),
            1.0);
  EXPECT_EQ(sample(text, R"(failcat_http_request_duration_seconds_bucket{method="POST",)"
                         R"(route="/api/v1/failures",le="0.001"})"),
            0.0);
}

TEST(Metrics, ExpositionHasHelpTypeAndBuildInfo) {
  Metrics metrics(options());
  // A labelled family is exposed once it has a child; HTTP children appear on first use.
  metrics.http_request("GET", "/api/v1/failures", 200, 0.001);
  const std::string text = metrics.serialize();

  for (const char* family :
       {"failure_match_hits_total", "failure_match_misses_total", "recovery_success_total",
        "recovery_failure_total", "failure_persist_dropped_total", "failcat_persisted_rows_total",
        "failcat_persist_errors_total", "failcat_breaker_transitions_total",
        "failcat_rejected_total", "failcat_catalog_reloads_total"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " counter\n"), std::string::npos)
        << family;
  }
  for (const char* family :
       {"failcat_breaker_state", "failcat_wal_bytes", "failcat_wal_unpersisted_bytes",
        "failcat_wal_backlog_rows", "failcat_inflight_requests", "failcat_catalog_entries",
        "failcat_build_info"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " gauge\n"), std::string::npos) << family;
  }
  for (const char* family :
       {"failcat_persist_batch_rows", "failcat_persist_batch_seconds", "failcat_wal_fsync_seconds",
        "failcat_http_request_duration_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " histogram\n"), std::string::npos)
        << family;
  }
  EXPECT_EQ(sample(text, R"(failcat_build_info{version="1.2.3"})"), 1.0);
  EXPECT_EQ(kMetricsContentType, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(Metrics, ConcurrentRecordingLosesNothing) {
  Metrics metrics(options());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < 1000; ++i) {
        metrics.match_hit(Metrics::MatchType::pattern);
        metrics.http_request("POST", "/api/v1/failures", 202, 0.001);
        metrics.actor_restarted("matcher");
      }
    });
  }
  for (auto& thread : threads) thread.join();

  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, R"(failure_match_hits_total{match_type="pattern"})"), 4000.0);
  EXPECT_EQ(sample(text, R"(failcat_http_requests_total{method="POST",route="/api/v1/failures",)"
                         R"(status_class="2xx"})"),
            4000.0);
  EXPECT_EQ(sample(text, R"(failcat_actor_restarts_total{actor="matcher"})"), 4000.0);
}

}  // namespace
}  // namespace failcat
