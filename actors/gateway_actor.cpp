// The gateway hands reads and recovery changes to the storage pool. The storage actor answers
// each call when it ran; at the deadline the gateway answers a call still queued, or a read,
// so an HTTP request never waits on a stuck database longer than the read timeout — except a
// recovery change already running, whose caller hears how it ended (see StoreCall).
#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/pipeline_context.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

struct GatewayState {
  static inline const char* name = "failcat.gateway";
};

using Self = gateway_actor::stateful_pointer<GatewayState>;

/// Seconds a caller is told to wait while an operator holds the breaker open.
constexpr int kForcedOpenRetrySeconds = 30;

void forward(Self self, PipelineContext* ctx, const StoreCallPtr& call) {
  const Micros now = ctx->clock.steady();
  if (ctx->status.database_isolated(now)) {
    Error isolated = Error::unavailable(kDatabaseIsolated);
    const Micros left = ctx->status.breaker_probe_at.load() - now;
    isolated.retry_after_seconds = ctx->status.breaker_mode.load() == kBreakerForcedOpen
                                       ? kForcedOpenRetrySeconds
                                       : static_cast<int>(std::max<Micros>(
                                             1, (left + kMicrosPerSecond - 1) / kMicrosPerSecond));
    call->finish(std::move(isolated));
    return;
  }
  auto storage = ctx->directory.next_storage();
  if (!storage) {
    call->finish(Error::unavailable("no storage actor"));
    return;
  }
  // The storage actor answers the call once it ran; this only gives up on it at the deadline
  // (a write already running still answers when it ends, see StoreCall).
  self->request(storage, std::chrono::microseconds(ctx->options.read_timeout), call_atom::value,
                call)
      .then([](bool) {},
            [call](caf::error& err) {
              call->abandon(Error::unavailable(err == caf::sec::request_timeout
                                                   ? "database did not answer in time"
                                                   : "database unavailable"));
            });
}

gateway_actor::behavior_type gateway_behavior(Self self, PipelineContext* ctx) {
  return {
      [=](call_atom, const StoreCallPtr& call) { forward(self, ctx, call); },
      [=](recover_atom, const RecoveryJobPtr& job) {
        // The storage thread writes the result here; the reply handler reads it.
        auto one = std::make_shared<Result<RecoveryUpdateResult>>(Error::unavailable("not run"));
        auto bulk = std::make_shared<Result<std::int64_t>>(Error::unavailable("not run"));
        auto run = [job, one, bulk](FailureStore& store) {
          if (job->id) {
            *one = store.update_recovery(job->scope, *job->id, job->update, job->if_updated_at);
          } else if (job->filter) {
            *bulk = store.bulk_update_recovery(job->scope, *job->filter, job->update);
          }
        };
        Metrics* metrics = &ctx->metrics;
        auto done = [job, one, bulk, metrics](Status ran) {
          if (job->id) {
            Result<RecoveryUpdateResult> result =
                ran ? *one : Result<RecoveryUpdateResult>(ran.error());
            // A change that records no attempt (attempted false) is neither outcome.
            if (result && result->outcome == UpdateOutcome::updated &&
                job->update.recovery_attempted) {
              job->update.recovery_succeeded ? metrics->recovery_succeeded()
                                             : metrics->recovery_failed();
            }
            job->answer(std::move(result));
          } else {
            Result<std::int64_t> result = ran ? *bulk : Result<std::int64_t>(ran.error());
            if (result && *result > 0 && job->update.recovery_attempted) {
              const auto n = static_cast<std::uint64_t>(*result);
              job->update.recovery_succeeded ? metrics->recovery_succeeded(n)
                                             : metrics->recovery_failed(n);
            }
            job->answer(std::move(result));
          }
        };
        forward(self, ctx,
                std::make_shared<StoreCall>(std::move(run), std::move(done), /*writes=*/true));
      },
  };
}

}  // namespace

gateway_actor spawn_gateway(caf::actor_system& system, PipelineContext& ctx) {
  return system.spawn(gateway_behavior, &ctx);
}

}  // namespace failcat
