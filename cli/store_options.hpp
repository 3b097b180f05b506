#pragma once

#include <thread>

#include "actors/pipeline_options.hpp"
#include "config/config.hpp"
#include "storage/store_factory.hpp"

namespace failcat {

/// The part of the config the store needs.
inline StoreOptions store_options(const Config& config) {
  StoreOptions options;
  options.database_url = config.database_url;
  options.sqlite_path = config.sqlite_path;
  options.statement_timeout_ms = config.db_statement_timeout_ms;
  return options;
}

/// The part of the config the actor pipeline needs.
inline PipelineOptions pipeline_options(const Config& config) {
  PipelineOptions o;
  o.durability =
      config.durability == Durability::wal ? PipelineDurability::wal : PipelineDurability::memory;
  o.wal_dir = config.wal_dir;
  o.wal_max_bytes = static_cast<std::uint64_t>(config.wal_max_bytes);
  o.store = store_options(config);
  o.storage_actors = config.db_pool_size;
  o.matcher_actors = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  o.breaker_threshold = config.breaker_threshold;
  o.breaker_reset = static_cast<Micros>(config.breaker_reset_seconds) * kMicrosPerSecond;
  o.persist_timeout = static_cast<Micros>(config.persist_timeout_seconds * kMicrosPerSecond);
  o.read_timeout = static_cast<Micros>(config.db_statement_timeout_ms) * 1000 + kMicrosPerSecond;
  o.max_inflight = static_cast<std::size_t>(config.max_inflight);
  o.aggregate_interval = static_cast<Micros>(config.aggregate_interval_seconds) * kMicrosPerSecond;
  o.retention_days = config.retention_days;
  o.export_dir = config.export_dir;
  o.webhook_url = config.webhook_url;
  o.webhook_secret = config.webhook_secret;
  o.alert_miss_rate = config.alert_miss_rate;
  o.alert_min_failures = config.alert_min_failures;
  o.alert_cooldown = static_cast<Micros>(config.alert_cooldown_seconds) * kMicrosPerSecond;
  return o;
}

}  // namespace failcat
