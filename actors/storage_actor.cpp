// A storage actor owns one database connection and runs on its own thread, because every
// call it makes blocks. Store errors come back as values; nothing escapes the handlers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "actors/pipeline_context.hpp"
#include "actors/side_file.hpp"
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

/// Ids of rows a refused batch has settled: set aside, or stored while it was split. A batch
/// sent again (after a pass that ran out of time, or a timeout) skips them, so each pass goes
/// further and no row is appended twice. Process-wide: ids are unique. Bounded; once full it
/// starts over (then a row may be tried again, and a duplicate line is harmless).
class SettledIds {
 public:
  bool contains(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_.count(id) != 0;
  }
  void add(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ids_.size() >= kMaxIds) ids_.clear();
    ids_.insert(id);
    any_.store(true, std::memory_order_release);
  }
  /// Whether any id was ever added: almost always false, so a batch need not look up its rows.
  bool any() const { return any_.load(std::memory_order_acquire); }

 private:
  static constexpr std::size_t kMaxIds = 100'000;
  mutable std::mutex mutex_;
  std::unordered_set<std::string> ids_;
  std::atomic<bool> any_{false};
};

SettledIds& set_aside_ids() {
  static SettledIds ids;
  return ids;
}

SettledIds& stored_while_split_ids() {
  static SettledIds ids;
  return ids;
}

bool settled(const std::string& id) {
  return set_aside_ids().contains(id) || stored_while_split_ids().contains(id);
}

/// The bisection of a refused batch: the rows the database takes are stored, the rows it
/// refuses on their own are collected, until done or out of time. About 2·log2(n) tries for
/// one bad row among n.
class RefusalBisection {
 public:
  RefusalBisection(FailureStore& store, const std::vector<FailureRecord>& rows,
                   std::optional<std::chrono::steady_clock::time_point> deadline)
      : store_(store), rows_(rows), deadline_(deadline) {}

  /// Stores rows[begin, end); `known_refused`: that range as a whole was just refused, so it
  /// is halved at once. Returns any error other than a refusal (what was stored stays stored:
  /// inserts are idempotent on id, and the caller sends the batch again).
  Status run(std::size_t begin, std::size_t end, bool known_refused) {
    if (begin >= end || out_of_time_) return ok_status();
    if (!known_refused) {
      // Each pass settles at least one row before it may stop, so passes always go further.
      if (deadline_ && done_ > 0 && std::chrono::steady_clock::now() >= *deadline_) {
        out_of_time_ = true;
        return ok_status();
      }
      std::vector<FailureRecord> part(rows_.begin() + static_cast<std::ptrdiff_t>(begin),
                                      rows_.begin() + static_cast<std::ptrdiff_t>(end));
      auto stored = store_.insert_batch(part);
      if (stored) {
        inserted_ += *stored;
        done_ += end - begin;
        for (const auto& r : part) stored_while_split_ids().add(r.id);
        return ok_status();
      }
      if (stored.error().kind != ErrorKind::rejected) return std::move(stored).error();
      if (end - begin == 1) {
        refused_.push_back(RefusedRow{&rows_[begin], stored.error().message});
        done_ += 1;
        return ok_status();
      }
    } else if (end - begin == 1) {
      return run(begin, end, false);  // a lone row is tried on its own to learn the reason
    }
    const auto middle = begin + (end - begin) / 2;
    if (auto first = run(begin, middle, false); !first) return first;
    return run(middle, end, false);
  }

  std::size_t inserted() const { return inserted_; }
  const std::vector<RefusedRow>& refused() const { return refused_; }
  /// Rows stored or refused so far.
  std::size_t done() const { return done_; }
  bool out_of_time() const { return out_of_time_; }

 private:
  FailureStore& store_;
  const std::vector<FailureRecord>& rows_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::size_t inserted_ = 0;
  std::size_t done_ = 0;
  bool out_of_time_ = false;
  std::vector<RefusedRow> refused_;
};

/// Appends the refused rows to `<wal_dir>/rejected-rows.ndjson` (one JSON object per line:
/// the failure, its idempotency key, the database's reason, when) and makes them durable
/// before the log may let them go. Storage actors append under one lock.
Status set_aside(const PipelineContext& ctx, const std::vector<RefusedRow>& refused) {
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
  return append_durably(ctx.options.wal_dir, kRejectedRowsFile, lines);
}

/// Refused rows of a batch beyond which the database, not the rows, is at fault (a column
/// altered by hand, a faulty deploy): from kSystemicMinRows rows on, more than half refused.
constexpr std::size_t kSystemicMinRows = 10;

/// A batch the database refused as data: the rows it accepts on their own are stored, the
/// others set aside durably, logged and counted, and the batch counts as stored (the database
/// is healthy; the breaker must not open for it). Within `deadline` (WAL mode: half the
/// persist timeout, so the breaker never times the batch out): past it, what is done stays
/// done and the batch is `partial`, sent again at once, skipping the rows set aside. When most
/// of a sizeable batch is refused the rows stay in the log and the batch fails as an outage
/// would: the breaker and its alerts are the right answer then.
PersistOutcome store_refused_batch(PipelineContext& ctx, FailureStore& store,
                                   const std::vector<FailureRecord>& batch,
                                   std::optional<std::chrono::steady_clock::time_point> deadline) {
  PersistOutcome out;
  std::vector<FailureRecord> rows;
  rows.reserve(batch.size());
  for (const auto& r : batch) {
    if (!settled(r.id)) rows.push_back(r);
  }
  RefusalBisection bisection(store, rows, deadline);
  // Unless rows were skipped, the whole batch was just refused: halve it at once. (A batch
  // sent again skips what earlier passes settled, so every pass that stores or refuses a row
  // goes further.)
  const auto done = bisection.run(0, rows.size(), rows.size() == batch.size());
  // What the split committed is in the database whatever the batch's outcome.
  ctx.metrics.persisted(bisection.inserted());
  if (!done) {
    out.error = done.error().message;
    return out;
  }
  const auto& refused = bisection.refused();
  if (bisection.done() >= kSystemicMinRows && refused.size() * 2 > bisection.done()) {
    out.error = "the database refuses " + std::to_string(refused.size()) + " of " +
                std::to_string(bisection.done()) + " rows (" + refused.front().reason +
                "); they stay in the write-ahead log";
    return out;
  }
  if (!refused.empty()) {
    if (auto kept = set_aside(ctx, refused); !kept) {
      if (ctx.options.durability == PipelineDurability::wal) {
        out.error = "rows refused by the database could not be set aside: " + kept.error().message;
        return out;
      }
      // Memory mode keeps nothing the database does not take: the refused rows are dropped
      // and counted as such; what the split stored stays stored (and is not counted lost).
      for (const auto& r : refused) {
        ctx.idempotency.erase_owner(*r.row);
        log_event(LogLevel::error, "database refused a failure; dropped (memory durability)",
                  {{"id", r.row->id}, {"error", r.reason}, {"file_error", kept.error().message}});
      }
      ctx.metrics.persist_dropped(Metrics::DropReason::error, refused.size());
      out.status = PersistOutcome::Status::stored;
      out.inserted = bisection.inserted();
      return out;
    }
    const std::string file =
        (std::filesystem::path(ctx.options.wal_dir) / kRejectedRowsFile).string();
    for (const auto& r : refused) {
      set_aside_ids().add(r.row->id);
      // A retry of its key must not be answered with a failure that is in no table.
      ctx.idempotency.erase_owner(*r.row);
      log_event(LogLevel::error, "database refused a failure; kept in the rejected-rows file",
                {{"id", r.row->id}, {"file", file}, {"error", r.reason}});
    }
    ctx.metrics.persist_rejected(refused.size());
  }
  out.status =
      bisection.out_of_time() ? PersistOutcome::Status::partial : PersistOutcome::Status::stored;
  out.inserted = bisection.inserted();
  return out;
}

struct StorageState {
  std::unique_ptr<FailureStore> store;
  std::uint64_t store_generation = 0;
  bool migrated = false;
  /// After a failed migration: the next attempt waits until then (each one may wait seconds
  /// for a lock), and calls meanwhile hear the same error at once.
  std::chrono::steady_clock::time_point retry_migration_at{};
  std::optional<Error> migration_error;
  static inline const char* name = "failcat.storage";
};

// New store options (rotated credentials) take effect on the next call: the old connection is
// closed and a new one opened lazily with them.
void refresh_store(StorageState& state, const PipelineContext& ctx) {
  if (state.store && ctx.store_options.generation() == state.store_generation) return;
  if (state.store) log_event(LogLevel::info, "storage reconnecting with new store options");
  state.store = open_pipeline_store(ctx, state.store_generation);
  state.migrated = false;
  state.migration_error.reset();  // new credentials: try at once
}

/// How long a storage actor waits before trying a failed migration again.
constexpr auto kMigrationRetryDelay = std::chrono::seconds(5);

// Migrations are idempotent and locked, so each storage actor simply makes sure once.
Status ensure_migrated(StorageState& state, PipelineStatus& status) {
  if (state.migrated) return ok_status();
  const auto now = std::chrono::steady_clock::now();
  if (state.migration_error && now < state.retry_migration_at) return *state.migration_error;
  auto applied = state.store->migrate();
  if (!applied) {
    status.set_store_error(applied.error().message);
    state.migration_error = applied.error();
    state.retry_migration_at = std::chrono::steady_clock::now() + kMigrationRetryDelay;
    return std::move(applied).error();
  }
  state.migration_error.reset();
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
          const auto started = std::chrono::steady_clock::now();
          // A batch sent again while it is being split goes straight back to the split.
          const bool splitting = (set_aside_ids().any() || stored_while_split_ids().any()) &&
                                 std::any_of(batch->rows.begin(), batch->rows.end(),
                                             [](const FailureRecord& r) { return settled(r.id); });
          auto inserted = splitting ? Result<std::size_t>(Error{ErrorKind::rejected, {}, {}})
                                    : self->state.store->insert_batch(batch->rows);
          if (!inserted && inserted.error().kind == ErrorKind::rejected) {
            std::optional<std::chrono::steady_clock::time_point> deadline;
            if (ctx->options.durability == PipelineDurability::wal) {
              deadline = started + std::chrono::microseconds(ctx->options.persist_timeout / 2);
            }
            out = store_refused_batch(*ctx, *self->state.store, batch->rows, deadline);
            if (out.status == PersistOutcome::Status::failed) {
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
          // Counted here, where the commit is known: the persister may hear "timed out" of a
          // batch that committed.
          ctx->metrics.persisted(*inserted);
          ctx->status.clear_store_error();
        } catch (const std::exception& e) {
          out.error = e.what();
        }
        return out;
      },
      [=](call_atom, const StoreCallPtr& call) -> bool {
        // The call answers its caller itself, from this thread, once it ran.
        refresh_store(self->state, *ctx);
        const Error unavailable = Error::unavailable("database unavailable");
        if (!self->state.store) {
          call->finish(unavailable);
          return false;
        }
        try {
          if (auto ready = ensure_migrated(self->state, ctx->status); !ready) {
            call->finish(unavailable);
            return false;
          }
          call->run(*self->state.store);
          return true;
        } catch (const std::exception& e) {
          log_event(LogLevel::error, "store call failed", {{"error", e.what()}});
          call->finish(unavailable);
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
