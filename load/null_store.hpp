#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "storage/failure_store.hpp"

namespace failcat::load {

/// A FailureStore that accepts every write and stores nothing: the in-process pipeline
/// benchmark uses it to measure the actors without a database. Reads find nothing.
/// `inserted` (shared by every instance one factory makes) counts the rows it was given.
class NullStore final : public FailureStore {
 public:
  explicit NullStore(std::shared_ptr<std::atomic<std::uint64_t>> inserted)
      : inserted_(std::move(inserted)) {}

  const char* backend() const override { return "null"; }
  Result<std::vector<int>> migrate(std::optional<int>) override { return std::vector<int>{}; }
  Result<std::vector<MigrationStatus>> migration_status() override {
    return std::vector<MigrationStatus>{};
  }
  Result<std::size_t> insert_batch(const std::vector<FailureRecord>& rows) override {
    inserted_->fetch_add(rows.size(), std::memory_order_relaxed);
    return rows.size();
  }
  Result<std::optional<FailureRecord>> get(const TenantScope&, const std::string&) override {
    return std::optional<FailureRecord>{};
  }
  Result<std::optional<FailureRecord>> find_by_idempotency_key(const std::string&,
                                                               const std::string&) override {
    return std::optional<FailureRecord>{};
  }
  Result<FailurePage> list(const TenantScope&, const ListQuery&) override { return FailurePage{}; }
  Result<FailurePage> unrecovered(const TenantScope&, const UnrecoveredQuery&) override {
    return FailurePage{};
  }
  Result<RecoveryUpdateResult> update_recovery(const TenantScope&, const std::string&,
                                               const RecoveryUpdate&,
                                               const std::optional<std::vector<Micros>>&) override {
    return RecoveryUpdateResult{};
  }
  Result<std::int64_t> bulk_update_recovery(const TenantScope&, const FailureFilter&,
                                            const RecoveryUpdate&) override {
    return std::int64_t{0};
  }
  Result<std::vector<RecoveryEvent>> recovery_events(const TenantScope&,
                                                     const std::string&) override {
    return std::vector<RecoveryEvent>{};
  }
  Result<FailureStats> stats(const TenantScope&, const StatsQuery&) override {
    return FailureStats{};
  }
  Result<std::int64_t> rollup_aggregates(Micros, Micros, Micros) override {
    return std::int64_t{0};
  }
  Result<std::vector<Micros>> hours_recovered_within(Micros, std::int64_t) override {
    return std::vector<Micros>{};
  }
  Result<std::vector<AggregateRow>> aggregates(const TenantScope&, const AggregateQuery&) override {
    return std::vector<AggregateRow>{};
  }
  Result<std::int64_t> delete_older_than(Micros, std::int64_t) override { return std::int64_t{0}; }
  Status ping() override { return ok_status(); }
  Result<bool> try_acquire_leadership() override { return false; }

 private:
  std::shared_ptr<std::atomic<std::uint64_t>> inserted_;
};

}  // namespace failcat::load
