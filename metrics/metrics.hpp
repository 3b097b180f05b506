#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace failcat {

/// The Content-Type of `Metrics::serialize()` output (Prometheus text exposition 0.0.4).
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

/// Status class label of an HTTP status: `1xx` … `5xx`; anything outside 100–599 is a server
/// bug and is counted as `5xx`.
std::string_view http_status_class(int status);

/// Method label: the standard method names as sent (methods are case-sensitive), `OTHER` for
/// anything else, so a client cannot mint label values.
std::string_view http_method_label(std::string_view method);

/// Route label given to requests whose route template was not declared (typically 404s).
inline constexpr std::string_view kUnmatchedRoute = "unmatched";

/// What the process is told at start-up: its version, every route template the HTTP layer
/// serves (only these become `route` label values) and the supervised actor roles (their restart
/// series exist from the start, so the first restart shows up in `increase()`).
struct MetricsOptions {
  std::string version = "unknown";
  std::vector<std::string> route_templates;
  std::vector<std::string> actor_names;
};

/// The counters and the latency histogram of one (method, route template) pair. Resolve it
/// once with `Metrics::http_route()` and keep the reference: `observe()` takes no lock.
class HttpRouteMetrics {
 public:
  /// Counts one finished request under its status class and records its duration.
  void observe(int status, double seconds) const;

 private:
  friend class Metrics;
  std::array<prometheus::Counter*, 5> requests_by_class_{};
  prometheus::Histogram* duration_ = nullptr;
};

/// Every metric failcat exports, over one private `prometheus::Registry`.
///
/// Created once at start-up and handed by reference to whoever records (actors, the API, jobs).
/// All methods are thread-safe. Label values come only from enums or from the fixed sets
/// declared in `MetricsOptions`, so no request data (run id, tenant, error code, raw path) can
/// ever become a label. Every labelled series that can be known in advance exists from the
/// start with value 0, so rates and alert expressions have data before the first event.
class Metrics {
 public:
  // Label values, spelled as exported. They are the metrics' own vocabulary (this library
  // depends on nothing of ours), so callers map their domain types onto them.

  /// The catalog rule that matched (a miss is counted separately).
  enum class MatchType { exact, prefix, pattern, fuzzy };
  /// Why an acknowledged failure never reached the database.
  enum class DropReason { breaker_open, timeout, error, shutdown, wal_error, restart };
  static constexpr std::size_t kDropReasonCount = 6;
  /// Circuit breaker state; the numeric value is what `failcat_breaker_state` reports.
  enum class BreakerState { closed = 0, open = 1, half_open = 2 };
  /// Why a request was refused with 503 before any work was done.
  enum class RejectReason { overloaded, wal_full, shutting_down, not_ready, wal_failed };
  static constexpr std::size_t kRejectReasonCount = 5;
  /// Result of a catalog reload, a background job run or a webhook delivery.
  enum class Outcome { success, failure };

  explicit Metrics(MetricsOptions options = {});
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Matching (`failure_match_hits_total{match_type}`, `failure_match_misses_total`).
  void match_hit(MatchType type);
  void match_miss();
  /// Failures accepted by the ingest API (acknowledged with 202), `failcat_ingested_total`.
  void ingested(std::uint64_t count = 1);

  // Recovery (`recovery_success_total`, `recovery_failure_total`).
  void recovery_succeeded(std::uint64_t count = 1);
  void recovery_failed(std::uint64_t count = 1);

  // Persistence.
  /// Acknowledged failures lost before reaching the database, `failure_persist_dropped_total`.
  void persist_dropped(DropReason reason, std::uint64_t count = 1);
  /// One batch written: adds `rows` to `failcat_persisted_rows_total` and observes the batch
  /// size and duration histograms.
  /// One batch the database took: `rows` sent, `seconds` to write them.
  void persist_batch(std::size_t rows, double seconds);
  /// Rows newly written to the database (a row sent again after a restart counts once).
  void persisted(std::size_t rows);
  /// One failed or timed-out batch write, `failcat_persist_errors_total`.
  void persist_error();
  /// Acknowledged rows the database refused as data, set aside in the rejected-rows file,
  /// `failcat_persist_rejected_rows_total`.
  void persist_rejected(std::uint64_t rows);

  // Circuit breaker.
  /// Sets `failcat_breaker_state` without counting a transition (start-up).
  void set_breaker_state(BreakerState state);
  /// Sets the state gauge to `to` and bumps `failcat_breaker_transitions_total{from,to}`.
  void breaker_transition(BreakerState from, BreakerState to);

  // Write-ahead log.
  void set_wal_bytes(std::uint64_t bytes);
  /// The part of the log `FAILCAT_WAL_MAX_BYTES` caps: framed records not yet persisted.
  void set_wal_unpersisted_bytes(std::uint64_t bytes);
  void set_wal_backlog_rows(std::uint64_t rows);
  void wal_fsync(double seconds);
  /// Rows the drainer read back from the log (no longer held in memory).
  void wal_reread(std::uint64_t rows);

  // Admission.
  /// `failcat_inflight_requests` up by one; pair every call with `request_finished()`.
  void request_started();
  void request_finished();
  void rejected(RejectReason reason);

  // HTTP.
  /// The handle for one method and route template. An undeclared template maps to
  /// `kUnmatchedRoute`; the returned reference lives as long as this object.
  const HttpRouteMetrics& http_route(std::string_view method, std::string_view route_template);
  /// Adds route templates to the declared set (the API registers its routes after the
  /// metrics exist). Only declared templates become `route` label values.
  void declare_routes(const std::vector<std::string>& route_templates);
  /// Shorthand for `http_route(method, route_template).observe(status, seconds)`.
  void http_request(std::string_view method, std::string_view route_template, int status,
                    double seconds);

  // Supervision, catalog and jobs.
  /// Counts a restart of `actor`, a short role name such as `persister` (not an instance id):
  /// names other than `[a-z0-9_]{1,32}`, and names beyond the first `kMaxActorNames`, are
  /// counted as `other`.
  void actor_restarted(std::string_view actor);
  void set_catalog_entries(std::size_t entries);
  /// 1 while the write-ahead log has failed (ingest refused until a restart), else 0.
  void set_wal_failed(bool failed);
  void catalog_reloaded(Outcome outcome);
  void aggregator_run(Outcome outcome);
  void retention_deleted(std::uint64_t rows);
  void webhook_delivery(Outcome outcome);

  /// The registry in Prometheus text format 0.0.4 (serve with `kMetricsContentType`).
  std::string serialize() const;

  /// Distinct actor label values before further names fold into `other`.
  static constexpr std::size_t kMaxActorNames = 32;

 private:
  struct Dynamic;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Dynamic> dynamic_;

  std::array<prometheus::Counter*, 4> match_hits_{};
  prometheus::Counter* match_misses_ = nullptr;
  prometheus::Counter* ingested_ = nullptr;
  prometheus::Counter* recovery_success_ = nullptr;
  prometheus::Counter* recovery_failure_ = nullptr;
  std::array<prometheus::Counter*, kDropReasonCount> persist_dropped_{};
  prometheus::Counter* persisted_rows_ = nullptr;
  prometheus::Histogram* persist_batch_rows_ = nullptr;
  prometheus::Histogram* persist_batch_seconds_ = nullptr;
  prometheus::Counter* persist_errors_ = nullptr;
  prometheus::Counter* persist_rejected_ = nullptr;
  prometheus::Gauge* breaker_state_ = nullptr;
  std::array<std::array<prometheus::Counter*, 3>, 3> breaker_transitions_{};
  prometheus::Gauge* wal_bytes_ = nullptr;
  prometheus::Gauge* wal_unpersisted_bytes_ = nullptr;
  prometheus::Gauge* wal_backlog_rows_ = nullptr;
  prometheus::Histogram* wal_fsync_seconds_ = nullptr;
  prometheus::Counter* wal_reread_rows_ = nullptr;
  prometheus::Gauge* inflight_requests_ = nullptr;
  std::array<prometheus::Counter*, kRejectReasonCount> rejected_{};
  prometheus::Gauge* catalog_entries_ = nullptr;
  prometheus::Gauge* wal_failed_ = nullptr;
  std::array<prometheus::Counter*, 2> catalog_reloads_{};
  std::array<prometheus::Counter*, 2> aggregator_runs_{};
  prometheus::Counter* retention_deleted_rows_ = nullptr;
  std::array<prometheus::Counter*, 2> webhook_deliveries_{};
};

/// The exported label value of each enumerator (its name: `exact`, `breaker_open`, …).
std::string_view to_label(Metrics::MatchType type);
std::string_view to_label(Metrics::DropReason reason);
std::string_view to_label(Metrics::BreakerState state);
std::string_view to_label(Metrics::RejectReason reason);
std::string_view to_label(Metrics::Outcome outcome);

}  // namespace failcat
