// Matcher actors turn ingest inputs into failure records: catalog match, id, timestamps.
// Stateless apart from an id generator; every matcher shares the immutable catalog snapshot.
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/pipeline_context.hpp"
#include "core/uuid.hpp"

namespace failcat {
namespace {

struct MatcherState {
  UuidV7Generator ids;
  static inline const char* name = "failcat.matcher";
};

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
          const auto& in = job->inputs[i];
          const auto result =
              catalog->matcher().match(in.error_code, in.error_message.value_or(std::string()));
          out.details[i] = match_details(result, *catalog);
          if (i < job->replays.size() && job->replays[i]) {
            out.records[i] = *job->replays[i];
            out.replayed[i] = true;
            continue;
          }
          auto& r = out.records[i];
          r = to_failure_record(in, self->state.ids.next(now / 1000), now);
          r.idempotency_key = job->keys[i];
          apply_match(r, result);
        }
        auto persister = ctx->directory.persister();
        if (!persister) {
          job->complete(Error{ErrorKind::unavailable, "persister unavailable", {}});
          return;
        }
        self->send(persister, ingest_atom::value, job);
      },
      [=](match_atom, const MatchJobPtr& job) {
        const auto catalog = ctx->catalog.current();
        const auto result = catalog->matcher().match(
            job->input.error_code, job->input.error_message.value_or(std::string()));
        job->done(job->input, result, *catalog);
      },
  };
}

}  // namespace

matcher_actor spawn_matcher(caf::actor_system& system, PipelineContext& ctx) {
  return system.spawn(matcher_behavior, &ctx);
}

}  // namespace failcat
