#pragma once
// The actor pipeline behind one plain C++ interface: the API and the CLI use this and never
// include CAF. Every method returns at once; answers arrive through the callbacks (from actor
// threads), so an HTTP thread never waits on an actor or the database.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/jobs.hpp"
#include "actors/pipeline_options.hpp"
#include "actors/pipeline_status.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/store_factory.hpp"

namespace failcat {

class Metrics;
class CatalogHolder;
class FailureStore;

/// Whether the service takes work: `accepting` false → 503; `detail` is "ok" or why it is
/// degraded or refusing.
struct Readiness {
  bool accepting = true;
  bool degraded = false;
  std::string detail = "ok";
};

class FailureService {
 public:
  FailureService(const PipelineOptions& options, Metrics& metrics, CatalogHolder& catalog,
                 const Clock& clock);
  ~FailureService();
  FailureService(const FailureService&) = delete;
  FailureService& operator=(const FailureService&) = delete;

  /// Starts the actor system and every actor (the persister replays the WAL).
  Status start();

  /// Refuses new work, flushes what is queued to the database (or leaves it in the WAL) until
  /// `deadline_steady`, then stops every actor. Returns the rows not yet in the database.
  std::uint64_t stop(Micros deadline_steady);

  /// Marks the service as shutting down: readiness 503, ingest refused.
  void begin_shutdown();

  /// Ingests failures: match, make durable per the durability mode, then answer. `keys[i]` is
  /// the idempotency key of `inputs[i]` (or nullopt). Errors: `overloaded` (503, retry later),
  /// `unavailable`.
  /// `prepare`, when given, runs on a matcher thread once the match is known (see
  /// `IngestJob::Prepare`).
  void ingest(std::vector<FailureInput> inputs, std::vector<std::optional<std::string>> keys,
              IngestJob::Callback done, IngestJob::Prepare prepare = {});

  /// Matches only; nothing is stored. Counts against `max_inflight` like an ingest; `refused`
  /// hears when it does not fit or the service is shutting down.
  void match(FailureInput input, MatchJob::Done done, MatchJob::Refused refused);

  /// Runs `run` on a storage actor's connection; `done` gets ok, or unavailable when the
  /// database did not answer within the read timeout.
  void call_store(std::function<void(FailureStore&)> run, std::function<void(Status)> done);

  /// Applies a recovery change (PATCH or bulk) with its audit trail and recovery counters.
  void recover(RecoveryJobPtr job);

  /// Runs `work` on a thread of its own (a detached actor the service waits for when it stops),
  /// so that a long piece of CPU work — parsing a large catalog — holds no HTTP thread. Runs it
  /// on the calling thread when the service is not running.
  void run_detached(std::function<void()> work);

  /// Reports the breaker, after applying `action` when given.
  /// `refused` hears when an action cannot be applied now (the breaker is restarting).
  void breaker(std::optional<BreakerAction> action, std::function<void(const BreakerView&)> done,
               std::function<void(const Error&)> refused = {});

  /// Replaces the store options (rotated database credentials): each storage actor and the
  /// aggregator reconnect with them before their next database call. Acknowledged work waits
  /// in the WAL meanwhile, so nothing is lost if the new credentials fail.
  void update_store_options(StoreOptions options);

  /// Replaces the key that signs webhook deliveries (rotated secret): the next alert uses it.
  void update_webhook_secret(std::string secret);

  Readiness readiness() const;
  const PipelineStatus& status() const;

  /// Test hook: the named actor's current handle is killed as if it had crashed
  /// ("persister", "breaker", "gateway", "aggregator", "matcher", "storage").
  bool crash_actor_for_test(const std::string& name);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace failcat
