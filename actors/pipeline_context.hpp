#pragma once
// Internal to actors/: what every actor of the pipeline is handed at spawn.

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "actors/actor_types.hpp"
#include "actors/pipeline_options.hpp"
#include "actors/pipeline_status.hpp"
#include "core/clock.hpp"
#include "core/idempotency_cache.hpp"
#include "storage/store_factory.hpp"

namespace failcat {

class Metrics;
class CatalogHolder;

/// The current handle of every actor; the supervisor replaces a handle when it restarts an
/// actor, so senders always look handles up here. Thread-safe.
class Directory {
 public:
  /// The next live one, round robin (a slot is empty while its actor restarts); none if all
  /// are empty.
  matcher_actor next_matcher() { return next_of(matchers_, next_matcher_); }
  storage_actor next_storage() { return next_of(storage_, next_storage_); }
  persister_actor persister() {
    std::lock_guard<std::mutex> lock(mutex_);
    return persister_;
  }
  breaker_actor breaker() {
    std::lock_guard<std::mutex> lock(mutex_);
    return breaker_;
  }
  gateway_actor gateway() {
    std::lock_guard<std::mutex> lock(mutex_);
    return gateway_;
  }
  aggregator_actor aggregator() {
    std::lock_guard<std::mutex> lock(mutex_);
    return aggregator_;
  }

  void set_matcher(std::size_t index, matcher_actor a) { set_slot(matchers_, index, std::move(a)); }
  void set_storage(std::size_t index, storage_actor a) { set_slot(storage_, index, std::move(a)); }
  void set_persister(persister_actor a) {
    std::lock_guard<std::mutex> lock(mutex_);
    persister_ = std::move(a);
  }
  void set_breaker(breaker_actor a) {
    std::lock_guard<std::mutex> lock(mutex_);
    breaker_ = std::move(a);
  }
  void set_gateway(gateway_actor a) {
    std::lock_guard<std::mutex> lock(mutex_);
    gateway_ = std::move(a);
  }
  void set_aggregator(aggregator_actor a) {
    std::lock_guard<std::mutex> lock(mutex_);
    aggregator_ = std::move(a);
  }
  /// True once every actor kind has a handle.
  bool complete(std::size_t matchers, std::size_t storage) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto all = [](const auto& v, std::size_t n) {
      if (v.size() < n) return false;
      for (const auto& a : v) {
        if (!a) return false;
      }
      return true;
    };
    return all(matchers_, matchers) && all(storage_, storage) && persister_ && breaker_ &&
           gateway_ && aggregator_;
  }

  std::vector<storage_actor> storage() {
    std::lock_guard<std::mutex> lock(mutex_);
    return storage_;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    matchers_.clear();
    storage_.clear();
    persister_ = persister_actor{};
    breaker_ = breaker_actor{};
    gateway_ = gateway_actor{};
    aggregator_ = aggregator_actor{};
  }

 private:
  template <class T>
  T next_of(const std::vector<T>& v, std::size_t& next) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t tries = 0; tries < v.size(); ++tries) {
      const T& a = v[next++ % v.size()];
      if (a) return a;
    }
    return T{};
  }
  template <class T>
  void set_slot(std::vector<T>& v, std::size_t index, T a) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (v.size() <= index) v.resize(index + 1);
    v[index] = std::move(a);
  }

  std::mutex mutex_;
  std::vector<matcher_actor> matchers_;
  std::vector<storage_actor> storage_;
  persister_actor persister_;
  breaker_actor breaker_;
  gateway_actor gateway_;
  aggregator_actor aggregator_;
  std::size_t next_matcher_ = 0;
  std::size_t next_storage_ = 0;
};

/// The store options in force. A SIGHUP may swap in new ones (rotated database credentials);
/// every actor that owns a store compares `generation()` before its next call and reopens its
/// connection when it moved. Thread-safe.
class LiveStoreOptions {
 public:
  explicit LiveStoreOptions(StoreOptions initial) : options_(std::move(initial)) {}

  StoreOptions get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return options_;
  }
  std::uint64_t generation() const { return generation_.load(); }
  void replace(StoreOptions next) {
    std::lock_guard<std::mutex> lock(mutex_);
    options_ = std::move(next);
    generation_.fetch_add(1);
  }

 private:
  mutable std::mutex mutex_;
  StoreOptions options_;
  std::atomic<std::uint64_t> generation_{0};
};

/// A secret that SIGHUP may replace (the webhook signing key). Thread-safe.
class LiveSecret {
 public:
  explicit LiveSecret(std::string initial) : value_(std::move(initial)) {}
  std::string get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return value_;
  }
  void replace(std::string next) {
    std::lock_guard<std::mutex> lock(mutex_);
    value_ = std::move(next);
  }

 private:
  mutable std::mutex mutex_;
  std::string value_;
};

/// Shared by every actor; outlives the actor system.
struct PipelineContext {
  PipelineOptions options;
  Metrics& metrics;
  CatalogHolder& catalog;
  const Clock& clock;
  PipelineStatus& status;
  IdempotencyCache& idempotency;
  Directory& directory;
  LiveStoreOptions& store_options;
  LiveSecret& webhook_secret;
};

/// A store for one actor: from the injected factory, else from the store options in force
/// (null when they can never work). `generation` receives the options' generation.
inline std::unique_ptr<FailureStore> open_pipeline_store(const PipelineContext& ctx,
                                                         std::uint64_t& generation) {
  generation = ctx.store_options.generation();
  if (ctx.options.store_factory) return ctx.options.store_factory();
  auto store = open_store(ctx.store_options.get());
  return store ? std::move(*store) : nullptr;
}

/// Spawn functions, one per actor kind (each in its own .cpp).
matcher_actor spawn_matcher(caf::actor_system& system, PipelineContext& ctx);
persister_actor spawn_persister(caf::actor_system& system, PipelineContext& ctx);
breaker_actor spawn_breaker(caf::actor_system& system, PipelineContext& ctx);
storage_actor spawn_storage(caf::actor_system& system, PipelineContext& ctx);
gateway_actor spawn_gateway(caf::actor_system& system, PipelineContext& ctx);
aggregator_actor spawn_aggregator(caf::actor_system& system, PipelineContext& ctx);

}  // namespace failcat
