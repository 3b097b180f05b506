#pragma once
// An in-process pipeline on a temp directory, with a store double that can fail or stall on
// demand, for tests of the actor layer.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "actors/failure_service.hpp"
#include "actors/pipeline_options.hpp"
#include "core/catalog.hpp"
#include "metrics/metrics.hpp"
#include "storage/failure_store.hpp"
#include "storage/store_factory.hpp"

namespace failcat::testing {

/// What the store double does on writes.
struct StoreBehaviour {
  std::atomic<bool> fail_inserts{false};
  /// Refuse as data (like PostgreSQL refusing a value too long) every insert holding a row
  /// whose error_code is kRefusedCode.
  std::atomic<bool> refuse_poison{false};
  static constexpr const char* kRefusedCode = "POISON";
  std::atomic<int> stall_ms{0};           ///< Sleep this long in each insert (a frozen database).
  std::atomic<int> recovery_stall_ms{0};  ///< Sleep this long before each recovery change.
  std::atomic<int> inserts{0};
  std::atomic<int> rollups{0};  ///< Calls of rollup_aggregates.
  /// rollup_aggregates fails for a range that starts before this time (0: never).
  std::atomic<Micros> fail_rollups_before{0};
  std::atomic<bool> fail_migrations{false};  ///< migrate() answers `unavailable`.
  std::atomic<int> migrations{0};            ///< Calls of migrate() by the pipeline.
  std::atomic<int> inserting{0};             ///< Inserts running now.
  std::atomic<int> most_inserting{0};        ///< The most that ever ran at once.

  /// Rows of each insert call, in order.
  std::vector<std::size_t> insert_sizes() const {
    std::lock_guard<std::mutex> lock(mutex);
    return sizes;
  }
  void record_insert(std::size_t rows) {
    std::lock_guard<std::mutex> lock(mutex);
    sizes.push_back(rows);
    ++inserts;
  }

 private:
  mutable std::mutex mutex;
  std::vector<std::size_t> sizes;
};

/// A real SQLite store whose inserts can be made to fail or stall.
class FlakyStore final : public FailureStore {
 public:
  FlakyStore(std::unique_ptr<FailureStore> inner, StoreBehaviour& behaviour)
      : inner_(std::move(inner)), b_(behaviour) {}
  const char* backend() const override { return inner_->backend(); }
  Result<std::vector<int>> migrate(std::optional<int> up_to) override {
    ++b_.migrations;
    if (b_.fail_migrations) return Error::unavailable("injected: waiting for a lock");
    return inner_->migrate(up_to);
  }
  Result<std::vector<MigrationStatus>> migration_status() override {
    return inner_->migration_status();
  }
  Result<std::size_t> insert_batch(const std::vector<FailureRecord>& rows) override {
    b_.record_insert(rows.size());
    const int now = ++b_.inserting;
    for (int most = b_.most_inserting.load(); now > most;) {
      if (b_.most_inserting.compare_exchange_weak(most, now)) break;
    }
    if (const int ms = b_.stall_ms.load(); ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    --b_.inserting;
    if (b_.fail_inserts) return Error::unavailable("injected failure");
    if (b_.refuse_poison) {
      for (const auto& r : rows) {
        if (r.error_code == StoreBehaviour::kRefusedCode) {
          return Error{ErrorKind::rejected, "value too long for type character varying(255)", {}};
        }
      }
    }
    return inner_->insert_batch(rows);
  }
  Result<std::optional<FailureRecord>> get(const TenantScope& s, const std::string& id) override {
    return inner_->get(s, id);
  }
  Result<std::optional<FailureRecord>> find_by_idempotency_key(const std::string& t,
                                                               const std::string& k) override {
    return inner_->find_by_idempotency_key(t, k);
  }
  Result<FailurePage> list(const TenantScope& s, const ListQuery& q) override {
    return inner_->list(s, q);
  }
  Result<FailurePage> unrecovered(const TenantScope& s, const UnrecoveredQuery& q) override {
    return inner_->unrecovered(s, q);
  }
  Result<RecoveryUpdateResult> update_recovery(
      const TenantScope& s, const std::string& id, const RecoveryUpdate& u,
      const std::optional<std::vector<Micros>>& v) override {
    stall_recovery();
    return inner_->update_recovery(s, id, u, v);
  }
  Result<std::int64_t> bulk_update_recovery(const TenantScope& s, const FailureFilter& f,
                                            const RecoveryUpdate& u) override {
    stall_recovery();
    return inner_->bulk_update_recovery(s, f, u);
  }
  Result<std::vector<RecoveryEvent>> recovery_events(const TenantScope& s,
                                                     const std::string& id) override {
    return inner_->recovery_events(s, id);
  }
  Result<FailureStats> stats(const TenantScope& s, const StatsQuery& q) override {
    return inner_->stats(s, q);
  }
  Result<std::int64_t> rollup_aggregates(Micros from, Micros to, Micros now) override {
    ++b_.rollups;
    if (from < b_.fail_rollups_before.load()) {
      return Error::unavailable("canceling statement due to statement timeout");
    }
    return inner_->rollup_aggregates(from, to, now);
  }
  Result<std::vector<Micros>> hours_recovered_within(Micros window, std::int64_t limit) override {
    return inner_->hours_recovered_within(window, limit);
  }
  Result<std::vector<AggregateRow>> aggregates(const TenantScope& s,
                                               const AggregateQuery& q) override {
    return inner_->aggregates(s, q);
  }
  Result<std::int64_t> delete_older_than(Micros cutoff, std::int64_t limit) override {
    return inner_->delete_older_than(cutoff, limit);
  }
  Status ping() override { return inner_->ping(); }
  Result<bool> try_acquire_leadership() override { return inner_->try_acquire_leadership(); }

 private:
  void stall_recovery() {
    if (const int ms = b_.recovery_stall_ms.load(); ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
  }
  std::unique_ptr<FailureStore> inner_;
  StoreBehaviour& b_;
};

inline std::string source_dir() {
  const char* dir = std::getenv("FAILCAT_SOURCE_DIR");
  return dir ? dir : ".";
}

/// A temp directory, a catalog, metrics, and a factory for pipelines sharing them.
class PipelineFixture {
 public:
  PipelineFixture() {
    char tmpl[] = "/tmp/failcat-actors-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto load = load_catalog_file(source_dir() + "/config/failure_catalog.json");
    if (!load.ok()) throw std::runtime_error("catalog did not load");
    catalog_ = std::make_unique<CatalogHolder>(load.catalog);
    options_.wal_dir = dir_ + "/wal";
    options_.store.sqlite_path = dir_ + "/failcat.db";
    options_.storage_actors = 2;
    options_.matcher_actors = 2;
    options_.breaker_threshold = 3;
    options_.breaker_reset = 300'000;
    options_.persist_timeout = 500'000;
    options_.read_timeout = 5'000'000;
    options_.aggregate_interval = 3600 * kMicrosPerSecond;
    options_.retention_days = 0;
    StoreBehaviour* behaviour = &behaviour_;
    StoreOptions store = options_.store;
    options_.store_factory = [behaviour, store]() -> std::unique_ptr<FailureStore> {
      return std::make_unique<FlakyStore>(make_sqlite_store(store), *behaviour);
    };
  }
  ~PipelineFixture() {
    service_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& dir() const { return dir_; }
  PipelineOptions& options() { return options_; }
  StoreBehaviour& store() { return behaviour_; }
  Metrics& metrics() { return *metrics_; }

  FailureService& start() {
    service_.reset();
    metrics_ = std::make_unique<Metrics>();
    // As `failcat serve` does before starting the pipeline.
    if (auto migrated = open_store()->migrate(); !migrated) {
      throw std::runtime_error(migrated.error().message);
    }
    service_ = std::make_unique<FailureService>(options_, *metrics_, *catalog_, clock_);
    auto started = service_->start();
    if (!started) throw std::runtime_error(started.error().message);
    return *service_;
  }

  /// Stops the service (drain up to `grace`) and returns the rows left unpersisted.
  std::uint64_t stop(Micros grace = 2'000'000) {
    if (!service_) return 0;
    const auto left = service_->stop(clock_.steady() + grace);
    service_.reset();
    return left;
  }

  /// Opens the SQLite file directly (bypassing the pipeline) to check what is stored.
  std::unique_ptr<FailureStore> open_store() { return make_sqlite_store(options_.store); }

  FailureService& service() { return *service_; }

 private:
  std::string dir_;
  SystemClock clock_;
  std::unique_ptr<CatalogHolder> catalog_;
  std::unique_ptr<Metrics> metrics_;
  PipelineOptions options_;
  StoreBehaviour behaviour_;
  std::unique_ptr<FailureService> service_;
};

/// Blocks until a callback-style ingest answers.
class Waiter {
 public:
  IngestJob::Callback callback() {
    return [this](const Result<IngestOutcome>& outcome) {
      std::lock_guard<std::mutex> lock(mutex_);
      results_.push_back(outcome);  // a copy: the outcome is only borrowed
      cv_.notify_all();
    };
  }
  /// Waits for `n` answers (at most `timeout`); returns how many arrived.
  std::size_t wait_for(std::size_t n,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
    return results_.size();
  }
  std::vector<Result<IngestOutcome>> results() {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Result<IngestOutcome>> results_;
};

inline FailureInput input(const std::string& run, const std::string& code,
                          const std::string& message = "") {
  FailureInput in;
  in.run_id = run;
  in.error_code = code;
  if (!message.empty()) in.error_message = message;
  return in;
}

/// Polls `pred` until true or `timeout`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace failcat::testing
