// Matcher actors turn ingest inputs into failure records: catalog match, id, timestamps.
// Stateless apart from an id generator; every matcher shares the immutable catalog snapshot.
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/pipeline_context.hpp"
#include "core/uuid.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

constexpr std::size_t kMaxCoalescedJobs = 256;

struct MatcherState {
  UuidV7Generator ids;
  /// Matched jobs not yet handed on: while more messages wait in the mailbox, jobs are
  /// collected and sent to the persister together (one message, one wake-up of its thread).
  std::vector<IngestJobPtr> outgoing;
  static inline const char* name = "failcat.matcher";
};

using Self = matcher_actor::stateful_pointer<MatcherState>;

/// Sends the collected jobs to the persister: alone, or as one batch message.
void hand_on(Self self, PipelineContext* ctx) {
  auto& outgoing = self->state.outgoing;
  if (outgoing.empty()) return;
  auto persister = ctx->directory.persister();
  if (!persister) {
    for (auto& job : outgoing) {
      ctx->metrics.rejected(Metrics::RejectReason::not_ready);  // restarting
      job->complete(Error{ErrorKind::unavailable, "persister unavailable", {}});
    }
  } else if (outgoing.size() == 1) {
    self->send(persister, ingest_atom::value, std::move(outgoing.front()));
  } else {
    self->send(persister, ingest_atom::value,
               std::make_shared<std::vector<IngestJobPtr>>(std::move(outgoing)));
  }
  outgoing.clear();
}

matcher_actor::behavior_type matcher_behavior(matcher_actor::stateful_pointer<MatcherState> self,
                                              PipelineContext* ctx) {
  return {
      [=](ingest_atom, const IngestJobPtr& job) {
        const auto catalog = ctx->catalog.current();
        const Micros now = ctx->clock.now();
        auto& out = job->outcome;
        const std::size_t n = job->inputs.size();
        out.records.resize(n);
        out.details.resize(n);
        out.replayed.assign(n, false);
        for (std::size_t i = 0; i < n; ++i) {
          auto& in = job->inputs[i];
          const auto result = catalog->matcher().match(
              in.error_code, in.error_message ? std::string_view(*in.error_message) : "");
          if (i < job->replays.size() && job->replays[i]) {
            out.records[i] = std::move(*job->replays[i]);
            out.replayed[i] = true;
            out.details[i] = replay_details(out.records[i], result, *catalog);
            continue;
          }
          out.details[i] = match_details(result, *catalog);
          // The input is not needed after matching: its strings move into the record.
          auto& r = out.records[i];
          r = to_failure_record(std::move(in), self->state.ids.next(now / 1000), now);
          r.idempotency_key = std::move(job->keys[i]);
          apply_match(r, result);
        }
        job->prepare_answer();
        self->state.outgoing.push_back(job);
        if (self->mailbox().empty() || self->state.outgoing.size() >= kMaxCoalescedJobs) {
          hand_on(self, ctx);
        }
      },
      [=](match_atom, const MatchJobPtr& job) {
        const auto catalog = ctx->catalog.current();
        const auto result = catalog->matcher().match(
            job->input.error_code, job->input.error_message.value_or(std::string()));
        job->answer(result, *catalog);
        if (self->mailbox().empty()) hand_on(self, ctx);
      },
  };
}

}  // namespace

matcher_actor spawn_matcher(caf::actor_system& system, PipelineContext& ctx) {
  return system.spawn(matcher_behavior, &ctx);
}

}  // namespace failcat
