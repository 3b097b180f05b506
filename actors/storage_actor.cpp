// A storage actor owns one database connection and runs on its own thread, because every
// call it makes blocks. Store errors come back as values; nothing escapes the handlers.
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/pipeline_context.hpp"
#include "config/logging.hpp"
#include "core/thread_name.hpp"

namespace failcat {
namespace {

struct StorageState {
  std::unique_ptr<FailureStore> store;
  std::uint64_t store_generation = 0;
  bool migrated = false;
  static inline const char* name = "failcat.storage";
};

// New store options (rotated credentials) take effect on the next call: the old connection is
// closed and a new one opened lazily with them.
void refresh_store(StorageState& state, const PipelineContext& ctx) {
  if (state.store && ctx.store_options.generation() == state.store_generation) return;
  if (state.store) log_event(LogLevel::info, "storage reconnecting with new store options");
  state.store = open_pipeline_store(ctx, state.store_generation);
  state.migrated = false;
}

// Migrations are idempotent and locked, so each storage actor simply makes sure once.
Status ensure_migrated(StorageState& state, PipelineStatus& status) {
  if (state.migrated) return ok_status();
  auto applied = state.store->migrate();
  if (!applied) {
    status.set_store_error(applied.error().message);
    return std::move(applied).error();
  }
  state.migrated = true;
  status.set_store_error({});
  return ok_status();
}

storage_actor::behavior_type storage_behavior(storage_actor::stateful_pointer<StorageState> self,
                                              PipelineContext* ctx) {
  name_this_thread("fc-storage");
  self->state.store = open_pipeline_store(*ctx, self->state.store_generation);
  return {
      [=](insert_atom, const PersistBatchPtr& batch) -> PersistOutcome {
        PersistOutcome out;
        refresh_store(self->state, *ctx);
        if (!self->state.store) {
          out.error = "no store";
          return out;
        }
        try {
          if (auto ready = ensure_migrated(self->state, ctx->status); !ready) {
            out.error = ready.error().message;
            return out;
          }
          auto inserted = self->state.store->insert_batch(batch->rows);
          if (!inserted) {
            out.error = inserted.error().message;
            ctx->status.set_store_error(out.error);
            return out;
          }
          out.status = PersistOutcome::Status::stored;
          out.inserted = *inserted;
          ctx->status.clear_store_error();
        } catch (const std::exception& e) {
          out.error = e.what();
        }
        return out;
      },
      [=](call_atom, const StoreCallPtr& call) -> bool {
        refresh_store(self->state, *ctx);
        if (!self->state.store) return false;
        try {
          if (auto ready = ensure_migrated(self->state, ctx->status); !ready) return false;
          call->run(*self->state.store);
          return true;
        } catch (const std::exception& e) {
          log_event(LogLevel::error, "store call failed", {{"error", e.what()}});
          return false;
        }
      },
  };
}

}  // namespace

storage_actor spawn_storage(caf::actor_system& system, PipelineContext& ctx) {
  return system.spawn<caf::detached>(storage_behavior, &ctx);
}

}  // namespace failcat
