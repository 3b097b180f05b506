// The breaker actor decides whether a persist may touch the database, bounds it with the
// persist timeout, and feeds the outcome back into the circuit breaker state machine.
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/pipeline_context.hpp"
#include "config/logging.hpp"
#include "core/circuit_breaker.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

Metrics::BreakerState metric_state(BreakerState s) {
  switch (s) {
    case BreakerState::closed:
      return Metrics::BreakerState::closed;
    case BreakerState::open:
      return Metrics::BreakerState::open;
    case BreakerState::half_open:
      return Metrics::BreakerState::half_open;
  }
  return Metrics::BreakerState::closed;
}

struct BreakerActorState {
  std::unique_ptr<CircuitBreaker> breaker;
  static inline const char* name = "failcat.breaker";
};

void publish(const CircuitBreaker& breaker, PipelineStatus& status) {
  const auto snap = breaker.snapshot();
  status.breaker_state = static_cast<int>(snap.state);
  status.breaker_mode = snap.mode == BreakerMode::automatic     ? kBreakerAuto
                        : snap.mode == BreakerMode::forced_open ? kBreakerForcedOpen
                                                                : kBreakerForcedClosed;
  status.breaker_failures = snap.consecutive_failures;
  status.breaker_last_transition = snap.transitions == 0 ? 0 : snap.last_transition_wall;
  status.breaker_transitions = snap.transitions;
  status.breaker_probe_in = breaker.time_until_probe();
  status.breaker_probe_at = breaker.probe_at();
}

breaker_actor::behavior_type breaker_behavior(
    breaker_actor::stateful_pointer<BreakerActorState> self, PipelineContext* ctx) {
  CircuitBreakerConfig config;
  config.failure_threshold = ctx->options.breaker_threshold;
  config.reset_timeout = ctx->options.breaker_reset;
  config.persist_timeout = ctx->options.persist_timeout;
  Metrics* metrics = &ctx->metrics;
  self->state.breaker = std::make_unique<CircuitBreaker>(
      ctx->clock, config, [metrics](BreakerState from, BreakerState to) {
        metrics->breaker_transition(metric_state(from), metric_state(to));
        metrics->set_breaker_state(metric_state(to));
        log_event(to == BreakerState::closed ? LogLevel::info : LogLevel::warn,
                  "circuit breaker transition", {{"from", to_string(from)}, {"to", to_string(to)}});
      });
  // A restart (the actor died) keeps what the breaker it replaces was doing: an operator's
  // hold, or an open circuit — nothing may touch the database it isolated until it probes.
  auto& breaker = *self->state.breaker;
  const int mode = ctx->status.breaker_mode.load();
  breaker.take_over(mode == kBreakerForcedOpen     ? BreakerMode::forced_open
                    : mode == kBreakerForcedClosed ? BreakerMode::forced_closed
                                                   : BreakerMode::automatic,
                    ctx->status.breaker_state.load() != 0, ctx->status.breaker_transitions.load(),
                    ctx->status.breaker_last_transition.load());
  metrics->set_breaker_state(metric_state(breaker.state()));
  publish(breaker, ctx->status);

  return {
      [=](persist_atom, const PersistBatchPtr& batch) -> caf::result<PersistOutcome> {
        auto& breaker = *self->state.breaker;
        if (!breaker.allow_request()) {
          publish(breaker, ctx->status);
          PersistOutcome out;
          out.status = PersistOutcome::Status::rejected;
          out.retry_after = breaker.time_until_probe();
          out.error = "circuit breaker open";
          return out;
        }
        publish(breaker, ctx->status);
        auto storage = ctx->directory.next_storage();
        if (!storage) {
          breaker.record_failure(FailureKind::error);
          publish(breaker, ctx->status);
          PersistOutcome out;
          out.error = "no storage actor";
          return out;
        }
        auto promise = self->make_response_promise<PersistOutcome>();
        const auto timeout = std::chrono::microseconds(ctx->options.persist_timeout);
        self->request<caf::message_priority::high>(storage, timeout, insert_atom::value, batch)
            .then(
                [=](PersistOutcome out) mutable {
                  auto& b = *self->state.breaker;
                  if (out.status == PersistOutcome::Status::stored ||
                      out.status == PersistOutcome::Status::partial) {
                    b.record_success();
                  } else {
                    b.record_failure(FailureKind::error);
                  }
                  publish(b, ctx->status);
                  promise.deliver(std::move(out));
                },
                [=](caf::error& err) mutable {
                  auto& b = *self->state.breaker;
                  const bool timeout = err == caf::sec::request_timeout;
                  b.record_failure(timeout ? FailureKind::timeout : FailureKind::error);
                  publish(b, ctx->status);
                  PersistOutcome out;
                  out.status =
                      timeout ? PersistOutcome::Status::timed_out : PersistOutcome::Status::failed;
                  out.error = timeout ? "persist timed out" : self->system().render(err);
                  promise.deliver(std::move(out));
                });
        return promise;
      },
      [=](breaker_atom, const BreakerCommandPtr& command) {
        auto& breaker = *self->state.breaker;
        if (command->action) {
          switch (*command->action) {
            case BreakerAction::open:
              breaker.force_open();
              break;
            case BreakerAction::close:
              breaker.force_closed();
              break;
            case BreakerAction::automatic:
              breaker.set_auto();
              break;
          }
          log_event(LogLevel::warn, "circuit breaker mode set by operator",
                    {{"mode", to_string(breaker.mode())}});
        }
        publish(breaker, ctx->status);
        command->answer(ctx->status.breaker_view());
      },
  };
}

}  // namespace

breaker_actor spawn_breaker(caf::actor_system& system, PipelineContext& ctx) {
  return system.spawn(breaker_behavior, &ctx);
}

}  // namespace failcat
