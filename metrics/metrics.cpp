#include "metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <utility>

namespace failcat {
namespace {

constexpr std::array<Metrics::MatchType, 4> kMatchTypes = {
    Metrics::MatchType::exact, Metrics::MatchType::prefix, Metrics::MatchType::pattern,
    Metrics::MatchType::fuzzy};
// Each counter array holds one slot per enumerator: a reason added to an enum must grow its
// count, or it would index past the array.
static_assert(static_cast<std::size_t>(Metrics::DropReason::restart) + 1 ==
              Metrics::kDropReasonCount);
static_assert(static_cast<std::size_t>(Metrics::RejectReason::wal_failed) + 1 ==
              Metrics::kRejectReasonCount);
constexpr std::array<Metrics::DropReason, Metrics::kDropReasonCount> kDropReasons = {
    Metrics::DropReason::breaker_open, Metrics::DropReason::timeout,
    Metrics::DropReason::error,        Metrics::DropReason::shutdown,
    Metrics::DropReason::wal_error,    Metrics::DropReason::restart};
constexpr std::array<Metrics::BreakerState, 3> kBreakerStates = {
    Metrics::BreakerState::closed, Metrics::BreakerState::open, Metrics::BreakerState::half_open};
constexpr std::array<Metrics::RejectReason, Metrics::kRejectReasonCount> kRejectReasons = {
    Metrics::RejectReason::overloaded, Metrics::RejectReason::wal_full,
    Metrics::RejectReason::shutting_down, Metrics::RejectReason::not_ready,
    Metrics::RejectReason::wal_failed};
constexpr std::array<Metrics::Outcome, 2> kOutcomes = {Metrics::Outcome::success,
                                                       Metrics::Outcome::failure};
constexpr std::array<std::string_view, 5> kStatusClasses = {"1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr std::array<std::string_view, 7> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                      "PATCH", "DELETE", "OPTIONS"};

// Batch sizes run from single failures to the largest API batch (1000) and a WAL drain.
// A backlog goes out in batches of up to 16 times the 500-row batch (8,000 rows).
const prometheus::Histogram::BucketBoundaries kBatchRowBuckets = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
const prometheus::Histogram::BucketBoundaries kBatchSecondBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5};
// An fsync on a healthy SSD takes well under a millisecond; seconds mean a sick disk.
const prometheus::Histogram::BucketBoundaries kFsyncSecondBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
const prometheus::Histogram::BucketBoundaries kHttpSecondBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

template <typename E>
std::size_t index_of(E value) {
  return static_cast<std::size_t>(value);
}

prometheus::Family<prometheus::Counter>& counter_family(prometheus::Registry& registry,
                                                        const std::string& name,
                                                        const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& gauge_family(prometheus::Registry& registry,
                                                    const std::string& name,
                                                    const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& histogram_family(prometheus::Registry& registry,
                                                            const std::string& name,
                                                            const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

bool is_actor_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string label(std::string_view value) {
  return std::string(value);
}

}  // namespace

std::string_view to_label(Metrics::MatchType type) {
  switch (type) {
    case Metrics::MatchType::exact:
      return "exact";
    case Metrics::MatchType::prefix:
      return "prefix";
    case Metrics::MatchType::pattern:
      return "pattern";
    case Metrics::MatchType::fuzzy:
      return "fuzzy";
  }
  return "exact";
}

std::string_view to_label(Metrics::DropReason reason) {
  switch (reason) {
    case Metrics::DropReason::breaker_open:
      return "breaker_open";
    case Metrics::DropReason::timeout:
      return "timeout";
    case Metrics::DropReason::error:
      return "error";
    case Metrics::DropReason::shutdown:
      return "shutdown";
    case Metrics::DropReason::wal_error:
      return "wal_error";
    case Metrics::DropReason::restart:
      return "restart";
  }
  return "error";
}

std::string_view to_label(Metrics::BreakerState state) {
  switch (state) {
    case Metrics::BreakerState::closed:
      return "closed";
    case Metrics::BreakerState::open:
      return "open";
    case Metrics::BreakerState::half_open:
      return "half_open";
  }
  return "closed";
}

std::string_view to_label(Metrics::RejectReason reason) {
  switch (reason) {
    case Metrics::RejectReason::overloaded:
      return "overloaded";
    case Metrics::RejectReason::wal_full:
      return "wal_full";
    case Metrics::RejectReason::shutting_down:
      return "shutting_down";
    case Metrics::RejectReason::not_ready:
      return "not_ready";
    case Metrics::RejectReason::wal_failed:
      return "wal_failed";
  }
  return "overloaded";
}

std::string_view to_label(Metrics::Outcome outcome) {
  return outcome == Metrics::Outcome::success ? "success" : "failure";
}

std::string_view http_status_class(int status) {
  if (status < 100 || status > 599) return "5xx";
  return kStatusClasses[static_cast<std::size_t>(status / 100 - 1)];
}

std::string_view http_method_label(std::string_view method) {
  for (std::string_view known : kMethods) {
    if (method == known) return known;
  }
  return "OTHER";
}

void HttpRouteMetrics::observe(int status, double seconds) const {
  const std::string_view cls = http_status_class(status);
  requests_by_class_[static_cast<std::size_t>(cls[0] - '1')]->Increment();
  duration_->Observe(seconds);
}

/// The families whose children are created on demand, and the caches that keep `Family::Add`
/// (which locks the family) off the hot path.
struct Metrics::Dynamic {
  explicit Dynamic(prometheus::Registry& registry, std::vector<std::string> routes)
      : http_requests(counter_family(registry, "failcat_http_requests_total",
                                     "HTTP requests answered, by method, route template and "
                                     "status class.")),
        http_duration(histogram_family(registry, "failcat_http_request_duration_seconds",
                                       "HTTP request latency from accept to response, by "
                                       "method and route template.")),
        actor_restarts(counter_family(registry, "failcat_actor_restarts_total",
                                      "Actors restarted by the supervisor after a crash.")),
        declared_routes(std::make_move_iterator(routes.begin()),
                        std::make_move_iterator(routes.end())) {}

  prometheus::Family<prometheus::Counter>& http_requests;
  prometheus::Family<prometheus::Histogram>& http_duration;
  prometheus::Family<prometheus::Counter>& actor_restarts;
  std::set<std::string, std::less<>> declared_routes;  ///< Guarded by `mutex`.

  std::mutex mutex;
  // std::map nodes never move, so references handed out stay valid.
  std::map<std::pair<std::string, std::string>, HttpRouteMetrics, std::less<>> routes;
  std::map<std::string, prometheus::Counter*, std::less<>> actors;
};

Metrics::Metrics(MetricsOptions options)
    : registry_(std::make_shared<prometheus::Registry>()),
      dynamic_(std::make_unique<Dynamic>(*registry_, std::move(options.route_templates))) {
  auto& registry = *registry_;

  auto& hits = counter_family(registry, "failure_match_hits_total",
                              "Failures matched to a catalog entry, by the rule that matched.");
  for (Metrics::MatchType type : kMatchTypes) {
    match_hits_[index_of(type)] = &hits.Add({{"match_type", label(to_label(type))}});
  }
  match_misses_ = &counter_family(registry, "failure_match_misses_total",
                                  "Failures that matched no catalog entry.")
                       .Add({});
  ingested_ = &counter_family(registry, "failcat_ingested_total",
                              "Failures accepted by the ingest API (acknowledged with 202).")
                   .Add({});

  recovery_success_ = &counter_family(registry, "recovery_success_total",
                                      "Recovery updates that marked a failure recovered.")
                           .Add({});
  recovery_failure_ = &counter_family(registry, "recovery_failure_total",
                                      "Recovery updates that recorded a failed recovery.")
                           .Add({});

  auto& dropped = counter_family(registry, "failure_persist_dropped_total",
                                 "Acknowledged failures lost before reaching the database, by "
                                 "reason.");
  for (Metrics::DropReason reason : kDropReasons) {
    persist_dropped_[index_of(reason)] = &dropped.Add({{"reason", label(to_label(reason))}});
  }
  persisted_rows_ = &counter_family(registry, "failcat_persisted_rows_total",
                                    "Failure rows written to the database.")
                         .Add({});
  persist_batch_rows_ = &histogram_family(registry, "failcat_persist_batch_rows",
                                          "Rows per batch written to the database.")
                             .Add({}, kBatchRowBuckets);
  persist_batch_seconds_ = &histogram_family(registry, "failcat_persist_batch_seconds",
                                             "Time to write one batch to the database.")
                                .Add({}, kBatchSecondBuckets);
  persist_errors_ = &counter_family(registry, "failcat_persist_errors_total",
                                    "Batch writes that failed or timed out.")
                         .Add({});
  persist_rejected_ = &counter_family(registry, "failcat_persist_rejected_rows_total",
                                      "Acknowledged rows the database refused as data, kept in "
                                      "the rejected-rows file instead.")
                           .Add({});

  breaker_state_ = &gauge_family(registry, "failcat_breaker_state",
                                 "Database circuit breaker state: 0 closed, 1 open, 2 half-open.")
                        .Add({});
  auto& transitions = counter_family(registry, "failcat_breaker_transitions_total",
                                     "Circuit breaker state changes, by previous and new state.");
  for (Metrics::BreakerState from : kBreakerStates) {
    for (Metrics::BreakerState to : kBreakerStates) {
      if (from == to) continue;
      breaker_transitions_[index_of(from)][index_of(to)] =
          &transitions.Add({{"from", label(to_label(from))}, {"to", label(to_label(to))}});
    }
  }

  wal_bytes_ = &gauge_family(registry, "failcat_wal_bytes",
                             "Bytes of the write-ahead log's files on disk (segments not yet "
                             "retired and the spare segments kept for reuse).")
                    .Add({});
  wal_unpersisted_bytes_ =
      &gauge_family(registry, "failcat_wal_unpersisted_bytes",
                    "Bytes of write-ahead log records not yet in the database: what "
                    "FAILCAT_WAL_MAX_BYTES caps.")
           .Add({});
  wal_backlog_rows_ = &gauge_family(registry, "failcat_wal_backlog_rows",
                                    "Failures in the write-ahead log waiting for the database.")
                           .Add({});
  wal_fsync_seconds_ = &histogram_family(registry, "failcat_wal_fsync_seconds",
                                         "Duration of one write-ahead log group fsync.")
                            .Add({}, kFsyncSecondBuckets);
  wal_reread_rows_ =
      &counter_family(registry, "failcat_wal_reread_rows_total",
                      "Rows the drainer read back from the write-ahead log because they were "
                      "no longer held in memory (a refused or failed batch, a long backlog).")
           .Add({});

  inflight_requests_ = &gauge_family(registry, "failcat_inflight_requests",
                                     "HTTP requests accepted and not yet answered.")
                            .Add({});
  auto& rejected = counter_family(registry, "failcat_rejected_total",
                                  "Requests refused with 503 before doing any work, by reason.");
  for (Metrics::RejectReason reason : kRejectReasons) {
    rejected_[index_of(reason)] = &rejected.Add({{"reason", label(to_label(reason))}});
  }

  catalog_entries_ = &gauge_family(registry, "failcat_catalog_entries",
                                   "Entries in the catalog currently used for matching.")
                          .Add({});
  wal_failed_ = &gauge_family(registry, "failcat_wal_failed",
                              "1 while the write-ahead log has failed (it could not be opened, "
                              "written or synced): ingest is refused until a restart.")
                     .Add({});
  auto& reloads = counter_family(registry, "failcat_catalog_reloads_total",
                                 "Catalog reload attempts, by outcome; a failed reload keeps "
                                 "the previous catalog.");
  auto& aggregator = counter_family(registry, "failcat_aggregator_runs_total",
                                    "Aggregation job runs, by outcome.");
  auto& webhook = counter_family(registry, "failcat_webhook_deliveries_total",
                                 "Alert webhook deliveries, by outcome.");
  for (Metrics::Outcome outcome : kOutcomes) {
    const std::string value = label(to_label(outcome));
    catalog_reloads_[index_of(outcome)] = &reloads.Add({{"outcome", value}});
    aggregator_runs_[index_of(outcome)] = &aggregator.Add({{"outcome", value}});
    webhook_deliveries_[index_of(outcome)] = &webhook.Add({{"outcome", value}});
  }
  retention_deleted_rows_ = &counter_family(registry, "failcat_retention_deleted_rows_total",
                                            "Rows deleted by the retention job.")
                                 .Add({});

  for (const std::string& actor : options.actor_names) {
    if (!is_actor_name(actor) || dynamic_->actors.size() >= kMaxActorNames) continue;
    dynamic_->actors.emplace(actor, &dynamic_->actor_restarts.Add({{"actor", actor}}));
  }

  gauge_family(registry, "failcat_build_info", "Always 1; the version is in the label.")
      .Add({{"version", options.version}})
      .Set(1);
}

Metrics::~Metrics() = default;

void Metrics::match_hit(Metrics::MatchType type) {
  match_hits_[index_of(type)]->Increment();
}

void Metrics::match_miss() {
  match_misses_->Increment();
}

void Metrics::ingested(std::uint64_t count) {
  ingested_->Increment(static_cast<double>(count));
}

void Metrics::recovery_succeeded(std::uint64_t count) {
  recovery_success_->Increment(static_cast<double>(count));
}

void Metrics::recovery_failed(std::uint64_t count) {
  recovery_failure_->Increment(static_cast<double>(count));
}

void Metrics::persist_dropped(Metrics::DropReason reason, std::uint64_t count) {
  persist_dropped_[index_of(reason)]->Increment(static_cast<double>(count));
}

void Metrics::persisted(std::size_t rows) {
  persisted_rows_->Increment(static_cast<double>(rows));
}

void Metrics::persist_batch(std::size_t rows, double seconds) {
  persist_batch_rows_->Observe(static_cast<double>(rows));
  persist_batch_seconds_->Observe(seconds);
}

void Metrics::persist_error() {
  persist_errors_->Increment();
}

void Metrics::persist_rejected(std::uint64_t rows) {
  persist_rejected_->Increment(static_cast<double>(rows));
}

void Metrics::set_breaker_state(Metrics::BreakerState state) {
  breaker_state_->Set(static_cast<double>(index_of(state)));
}

void Metrics::breaker_transition(Metrics::BreakerState from, Metrics::BreakerState to) {
  set_breaker_state(to);
  if (from != to) breaker_transitions_[index_of(from)][index_of(to)]->Increment();
}

void Metrics::set_wal_bytes(std::uint64_t bytes) {
  wal_bytes_->Set(static_cast<double>(bytes));
}

void Metrics::set_wal_unpersisted_bytes(std::uint64_t bytes) {
  wal_unpersisted_bytes_->Set(static_cast<double>(bytes));
}

void Metrics::set_wal_backlog_rows(std::uint64_t rows) {
  wal_backlog_rows_->Set(static_cast<double>(rows));
}

void Metrics::wal_fsync(double seconds) {
  wal_fsync_seconds_->Observe(seconds);
}

void Metrics::wal_reread(std::uint64_t rows) {
  wal_reread_rows_->Increment(static_cast<double>(rows));
}

void Metrics::request_started() {
  inflight_requests_->Increment();
}

void Metrics::request_finished() {
  inflight_requests_->Decrement();
}

void Metrics::rejected(Metrics::RejectReason reason) {
  rejected_[index_of(reason)]->Increment();
}

const HttpRouteMetrics& Metrics::http_route(std::string_view method,
                                            std::string_view route_template) {
  const std::string_view method_label = http_method_label(method);
  std::lock_guard<std::mutex> lock(dynamic_->mutex);
  const bool declared =
      dynamic_->declared_routes.find(route_template) != dynamic_->declared_routes.end();
  const std::string_view route_label = declared ? route_template : kUnmatchedRoute;
  auto key = std::make_pair(std::string(method_label), std::string(route_label));

  auto it = dynamic_->routes.find(key);
  if (it != dynamic_->routes.end()) return it->second;

  HttpRouteMetrics handle;
  for (std::size_t i = 0; i < kStatusClasses.size(); ++i) {
    handle.requests_by_class_[i] = &dynamic_->http_requests.Add(
        {{"method", key.first}, {"route", key.second}, {"status_class", label(kStatusClasses[i])}});
  }
  handle.duration_ = &dynamic_->http_duration.Add({{"method", key.first}, {"route", key.second}},
                                                  kHttpSecondBuckets);
  return dynamic_->routes.emplace(std::move(key), handle).first->second;
}

void Metrics::declare_routes(const std::vector<std::string>& route_templates) {
  std::lock_guard<std::mutex> lock(dynamic_->mutex);
  dynamic_->declared_routes.insert(route_templates.begin(), route_templates.end());
}

void Metrics::http_request(std::string_view method, std::string_view route_template, int status,
                           double seconds) {
  http_route(method, route_template).observe(status, seconds);
}

void Metrics::actor_restarted(std::string_view actor) {
  std::string_view name = is_actor_name(actor) ? actor : "other";
  std::lock_guard<std::mutex> lock(dynamic_->mutex);
  auto it = dynamic_->actors.find(name);
  if (it == dynamic_->actors.end() && dynamic_->actors.size() >= kMaxActorNames) {
    name = "other";
    it = dynamic_->actors.find(name);
  }
  if (it == dynamic_->actors.end()) {
    prometheus::Counter* counter = &dynamic_->actor_restarts.Add({{"actor", label(name)}});
    it = dynamic_->actors.emplace(std::string(name), counter).first;
  }
  it->second->Increment();
}

void Metrics::set_catalog_entries(std::size_t entries) {
  catalog_entries_->Set(static_cast<double>(entries));
}

void Metrics::set_wal_failed(bool failed) {
  wal_failed_->Set(failed ? 1.0 : 0.0);
}

void Metrics::catalog_reloaded(Metrics::Outcome outcome) {
  catalog_reloads_[index_of(outcome)]->Increment();
}

void Metrics::aggregator_run(Metrics::Outcome outcome) {
  aggregator_runs_[index_of(outcome)]->Increment();
}

void Metrics::retention_deleted(std::uint64_t rows) {
  retention_deleted_rows_->Increment(static_cast<double>(rows));
}

void Metrics::webhook_delivery(Metrics::Outcome outcome) {
  webhook_deliveries_[index_of(outcome)]->Increment();
}

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace failcat
