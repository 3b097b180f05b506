#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/failure.hpp"
#include "core/failure_query.hpp"
#include "core/result.hpp"

namespace failcat {

/// A migration known to the binary and whether the database has applied it.
struct MigrationStatus {
  int version = 0;
  std::string name;
  bool applied = false;
  std::optional<Micros> applied_at;
  /// Applied with a text other than this binary's (a migration edited after it shipped).
  bool checksum_differs = false;
  /// Applied, but unknown to this binary (a newer failcat migrated the database).
  bool unknown = false;
};

/// Everything failcat persists or queries. Two implementations (SQLite, PostgreSQL) pass one
/// contract test suite. Every read and write takes a TenantScope, so authorisation narrows
/// what a caller sees in one place.
///
/// An instance owns one connection and is not thread-safe: give each storage actor its own.
/// No method throws: database errors come back as `ErrorKind::unavailable` (connection or
/// server trouble, worth retrying) or `ErrorKind::internal`; a broken connection is reopened
/// on the next call.
class FailureStore {
 public:
  virtual ~FailureStore() = default;

  /// "sqlite" or "postgres".
  virtual const char* backend() const = 0;

  /// Applies pending migrations (idempotent; on PostgreSQL under an advisory lock so two nodes
  /// never race). `up_to` stops after that version (tests use it); returns versions applied.
  virtual Result<std::vector<int>> migrate(std::optional<int> up_to = std::nullopt) = 0;
  virtual Result<std::vector<MigrationStatus>> migration_status() = 0;

  /// Inserts rows, skipping ids already stored (`ON CONFLICT (id) DO NOTHING`) and rows whose
  /// idempotency key the tenant has already used, in one transaction. Returns rows inserted.
  virtual Result<std::size_t> insert_batch(const std::vector<FailureRecord>& rows) = 0;

  virtual Result<std::optional<FailureRecord>> get(const TenantScope& scope,
                                                   const std::string& id) = 0;

  /// The failure first stored under `key` for `tenant_id`, if any.
  virtual Result<std::optional<FailureRecord>> find_by_idempotency_key(const std::string& tenant_id,
                                                                       const std::string& key) = 0;

  /// Newest first (`created_at` desc, `id` desc), with offset or keyset (`after`) paging.
  virtual Result<FailurePage> list(const TenantScope& scope, const ListQuery& query) = 0;

  /// Unrecovered failures, most severe first (critical → low → unknown), then newest.
  virtual Result<FailurePage> unrecovered(const TenantScope& scope,
                                          const UnrecoveredQuery& query) = 0;

  /// Updates the recovery columns of one failure and appends its audit event, in one
  /// transaction. With `if_updated_at`, the update happens only if the row's `updated_at` still
  /// equals one of those versions (optimistic concurrency for If-Match, which may list several).
  virtual Result<RecoveryUpdateResult> update_recovery(
      const TenantScope& scope, const std::string& id, const RecoveryUpdate& update,
      const std::optional<std::vector<Micros>>& if_updated_at) = 0;

  /// Applies `update` to every failure matching `filter` whose recovery state differs from the
  /// one asked for, auditing each row, in one transaction (a row already in that state keeps
  /// its recovery time, notes and `updated_at`). Returns the number of rows updated.
  virtual Result<std::int64_t> bulk_update_recovery(const TenantScope& scope,
                                                    const FailureFilter& filter,
                                                    const RecoveryUpdate& update) = 0;

  /// The audit trail of one failure, oldest first.
  virtual Result<std::vector<RecoveryEvent>> recovery_events(const TenantScope& scope,
                                                             const std::string& failure_id) = 0;

  virtual Result<FailureStats> stats(const TenantScope& scope, const StatsQuery& query) = 0;

  /// Recomputes the hourly rollups of `failure_aggregates` for the hours in [from, to).
  /// Idempotent: a rerun replaces the same buckets. Returns the rows written.
  virtual Result<std::int64_t> rollup_aggregates(Micros from, Micros to, Micros now) = 0;
  /// The hours (as rollups bucket them) of failures whose recovery changes were recorded in
  /// the last `window` by the store's clock, across every tenant: the newest `limit` of them,
  /// oldest first.
  virtual Result<std::vector<Micros>> hours_recovered_within(Micros window, std::int64_t limit) = 0;
  virtual Result<std::vector<AggregateRow>> aggregates(const TenantScope& scope,
                                                       const AggregateQuery& query) = 0;

  /// Deletes up to `batch_limit` failures created before `cutoff` (with their audit events and
  /// idempotency keys). Returns rows deleted; callers loop until it returns 0.
  virtual Result<std::int64_t> delete_older_than(Micros cutoff, std::int64_t batch_limit) = 0;

  /// A cheap round trip proving the connection works (readiness).
  virtual Status ping() = 0;

  /// True when this connection leads the periodic jobs (rollups, exports, retention, alerts).
  /// PostgreSQL: a session advisory lock, held until the connection ends, so one node of many
  /// runs the jobs. SQLite: always true (one process owns the file).
  virtual Result<bool> try_acquire_leadership() = 0;
};

}  // namespace failcat
