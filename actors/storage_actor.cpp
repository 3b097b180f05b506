// A storage actor owns one database connection and runs on its own thread, because every
// call it makes blocks. Store errors come back as values; nothing escapes the handlers.
#include <fcntl.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "actors/pipeline_context.hpp"
#include "config/logging.hpp"
#include "core/failure_json.hpp"
#include "core/thread_name.hpp"
#include "core/timestamp.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

constexpr char kRejectedRowsFile[] = "rejected-rows.ndjson";

/// A row the database refused on its own, with the database's reason.
struct RefusedRow {
  const FailureRecord* row;
  std::string reason;
};

/// Stores `rows`; when the database refuses them as data, halves them until each refused row
/// stands alone, so that one bad row cannot hold back the others (a transaction per try: about
/// 2·log2(n) of them for one bad row). `inserted` counts the rows stored; `refused` collects the
/// rows refused on their own. Any other error ends it: what was stored stays stored (inserts
/// are idempotent on id), and the caller sends the whole batch again later.
Status insert_isolating_refused(FailureStore& store, const std::vector<FailureRecord>& rows,
                                std::size_t& inserted, std::vector<RefusedRow>& refused,
                                std::vector<FailureRecord>::size_type begin,
                                std::vector<FailureRecord>::size_type end) {
  std::vector<FailureRecord> part(rows.begin() + static_cast<std::ptrdiff_t>(begin),
                                  rows.begin() + static_cast<std::ptrdiff_t>(end));
  auto stored = store.insert_batch(part);
  if (stored) {
    inserted += *stored;
    return ok_status();
  }
  if (stored.error().kind != ErrorKind::rejected) return std::move(stored).error();
  if (end - begin == 1) {
    refused.push_back(RefusedRow{&rows[begin], stored.error().message});
    return ok_status();
  }
  const auto middle = begin + (end - begin) / 2;
  if (auto first = insert_isolating_refused(store, rows, inserted, refused, begin, middle);
      !first) {
    return first;
  }
  return insert_isolating_refused(store, rows, inserted, refused, middle, end);
}

/// Appends the refused rows to `<wal_dir>/rejected-rows.ndjson` (one JSON object per line:
/// the failure, its idempotency key, the database's reason, when) and makes them durable
/// before the log may let them go. Storage actors append under one lock.
Status set_aside(const PipelineContext& ctx, const std::vector<RefusedRow>& refused) {
  static std::mutex mutex;
  std::string lines;
  const std::string at = format_rfc3339(ctx.clock.now());
  for (const auto& r : refused) {
    auto line = failure_to_json(*r.row);
    if (r.row->idempotency_key) line["idempotency_key"] = *r.row->idempotency_key;
    line["rejected_reason"] = r.reason;
    line["rejected_at"] = at;
    lines += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    lines += '\n';
  }
  const std::filesystem::path dir(ctx.options.wal_dir);
  const std::string path = (dir / kRejectedRowsFile).string();
  std::lock_guard<std::mutex> lock(mutex);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::unavailable("cannot open " + path + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < lines.size()) {
    const ssize_t n = ::write(fd, lines.data() + done, lines.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return Error::unavailable("cannot write " + path + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Error::unavailable("cannot fdatasync " + path + ": " + std::strerror(err));
  }
  ::close(fd);
  if (!existed) {
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool synced = dir_fd >= 0 && ::fsync(dir_fd) == 0;
    if (dir_fd >= 0) ::close(dir_fd);
    if (!synced) return Error::unavailable("cannot fsync " + dir.string());
  }
  return ok_status();
}

/// A batch the database refused as data: the rows it accepts on their own are stored, the
/// others set aside durably, logged and counted, and the batch counts as stored (the database
/// is healthy; the breaker must not open for it).
PersistOutcome store_refused_batch(PipelineContext& ctx, FailureStore& store,
                                   const std::vector<FailureRecord>& rows) {
  PersistOutcome out;
  std::size_t inserted = 0;
  std::vector<RefusedRow> refused;
  if (auto done = insert_isolating_refused(store, rows, inserted, refused, 0, rows.size()); !done) {
    out.error = done.error().message;
    return out;
  }
  if (!refused.empty()) {
    if (auto kept = set_aside(ctx, refused); !kept) {
      out.error = "rows refused by the database could not be set aside: " + kept.error().message;
      return out;
    }
    for (const auto& r : refused) {
      log_event(
          LogLevel::error, "database refused a failure; kept in the rejected-rows file",
          {{"id", r.row->id},
           {"file", (std::filesystem::path(ctx.options.wal_dir) / kRejectedRowsFile).string()},
           {"error", r.reason}});
    }
    ctx.metrics.persist_rejected(refused.size());
  }
  out.status = PersistOutcome::Status::stored;
  out.inserted = inserted;
  return out;
}

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
          if (!inserted && inserted.error().kind == ErrorKind::rejected) {
            out = store_refused_batch(*ctx, *self->state.store, batch->rows);
            if (out.status != PersistOutcome::Status::stored) {
              ctx->status.set_store_error(out.error);
            } else {
              ctx->status.clear_store_error();
            }
            return out;
          }
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
