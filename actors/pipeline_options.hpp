#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/timestamp.hpp"
#include "storage/store_factory.hpp"

namespace failcat {

enum class PipelineDurability { wal, memory };

/// The pipeline's part of the config.
struct PipelineOptions {
  PipelineDurability durability = PipelineDurability::wal;
  std::string wal_dir = "./data/wal";
  std::uint64_t wal_max_bytes = 1ull << 30;
  std::uint64_t wal_segment_bytes = 16u << 20;
  /// Replaces the WAL's group fdatasync (tests: a held or failing disk); null in service.
  std::shared_ptr<const std::function<int(int fd)>> wal_datasync;
  StoreOptions store;
  /// Opens each actor's store; empty: `open_store(store)`. Tests and the load harness inject
  /// doubles (a store that fails on demand, a null store) here.
  std::function<std::unique_ptr<FailureStore>()> store_factory;
  int storage_actors = 4;
  int matcher_actors = 2;
  int breaker_threshold = 5;
  Micros breaker_reset = 60 * kMicrosPerSecond;
  Micros persist_timeout = 2 * kMicrosPerSecond;
  Micros read_timeout = 10 * kMicrosPerSecond;
  std::size_t max_inflight = 10'000;
  std::size_t batch_rows = 500;
  Micros batch_age = 5'000;
  /// Rows the persister keeps in memory beyond which it re-reads from the WAL.
  std::size_t memory_rows = 50'000;
  Micros aggregate_interval = 60 * kMicrosPerSecond;
  int retention_days = 30;
  /// Retention deletes in transactions of this many rows, as many as the run's budget allows.
  std::int64_t retention_batch_rows = 1000;
  std::string export_dir;
  std::string webhook_url;
  std::string webhook_secret;
  double alert_miss_rate = 0.3;
  std::int64_t alert_min_failures = 20;
  Micros alert_cooldown = 15 * 60 * kMicrosPerSecond;
};

}  // namespace failcat
