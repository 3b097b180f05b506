// The aggregator runs the periodic jobs on its own connection and thread: hourly rollups,
// NDJSON snapshots of them (durable aggregation), retention, and miss-rate alerts. With
// several nodes on one PostgreSQL, only the holder of the leader lock runs them.
#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <thread>

#include "actors/pipeline_context.hpp"
#include "actors/side_file.hpp"
#include "actors/webhook_sender.hpp"
#include "config/logging.hpp"
#include "core/failure_json.hpp"
#include "core/miss_rate_alert.hpp"
#include "core/rollup_window.hpp"
#include "core/thread_name.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

/// Retention's share of a run: it deletes until it catches up or this much time has passed,
/// so a service taking thousands of failures a second keeps its table bounded.
constexpr Micros kRetentionBudgetMax = 60 * kMicrosPerSecond;
constexpr int kFirstRollupHours = 48;
/// How far back a run reaches at most to catch up on hours it missed.
constexpr int kMaxCatchUpHours = 7 * 24;
/// At most this many hours per rollup statement: a long catch-up is several short ones.
constexpr int kRollupStepHours = 24;
constexpr std::int64_t kMaxExportRows = 1'000'000;
/// Recovery changes are looked up from this long before the previous lookup: a change is
/// recorded (by the database's clock) before its transaction commits, possibly after a lookup
/// that started later.
constexpr Micros kRecoveryLookback = 10 * 60 * kMicrosPerSecond;
/// At most this many hours outside the window are recomputed for their recoveries per run.
constexpr std::int64_t kMaxRecoveredHours = 400 * 24;

struct AggregatorState {
  std::unique_ptr<FailureStore> store;
  std::uint64_t store_generation = 0;
  std::unique_ptr<MissRateAlert> alert;
  RollupWindow window{kFirstRollupHours, kMaxCatchUpHours};
  /// When (steady clock) the last lookup of recovery changes whose hours were all recomputed
  /// and exported started; 0 before the first.
  Micros recoveries_looked_up = 0;
  bool leader = false;
  static inline const char* name = "failcat.aggregator";
};

using Self = aggregator_actor::stateful_pointer<AggregatorState>;

std::string hour_name(Micros hour) {
  // 2026-11-30T06:00:00.000000Z -> 20261130T06
  const auto t = format_rfc3339(hour);
  return t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2) + "T" + t.substr(11, 2);
}

/// Writes one hour's rollup rows as NDJSON, atomically and durably: an hour reported written
/// is final (RollupWindow moves past it), so a failed fsync, close or rename is a failure.
Status export_hour(const std::string& dir, Micros hour, const std::vector<AggregateRow>& rows) {
  std::string lines;
  for (const auto& row : rows) {
    if (row.bucket_start == hour) lines += dump_json(aggregate_to_json(row)) + '\n';
  }
  return replace_durably(dir, "aggregates-" + hour_name(hour) + ".ndjson", lines);
}

bool run_jobs(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  auto& store = *st.store;
  const auto& o = ctx->options;
  // The jobs wait with everything else while the breaker isolates the database; the hours
  // that fall in the gap are recomputed by a later run (see RollupWindow).
  if (ctx->status.database_isolated(ctx->clock.steady())) return false;
  auto leader = store.try_acquire_leadership();
  if (!leader) {
    log_event(LogLevel::warn, "aggregator: database unavailable",
              {{"error", leader.error().message}});
    return false;
  }
  if (*leader != st.leader) {
    st.leader = *leader;
    log_event(LogLevel::info, st.leader ? "this node now runs the periodic jobs"
                                        : "another node runs the periodic jobs");
  }
  if (!*leader) return true;
  if (auto migrated = store.migrate(); !migrated) {
    log_event(LogLevel::warn, "aggregator: migrations not applied",
              {{"error", migrated.error().message}});
    return false;
  }
  bool ok = true;
  const Micros now = ctx->clock.now();
  const Micros current = floor_hour(now);
  // Read before the rollup, and only once the persister has published them (it replays the
  // log first): see RollupWindow.
  const bool positions_known = ctx->status.persister_ready.load();
  const std::uint64_t stored = ctx->status.stored_through.load();
  const std::uint64_t acknowledged = ctx->status.acknowledged_through.load();
  const Micros from = st.window.begin(current);
  // A recovery changes the recovered_count of its failure's hour, however old: hours before
  // the window whose failures' recoveries changed since the last lookup are recomputed too.
  // That work fails on its own (the lookup is then repeated), never holding the window's.
  const Micros steady = ctx->clock.steady();
  const Micros lookback = st.recoveries_looked_up != 0
                              ? steady - st.recoveries_looked_up + kRecoveryLookback
                              : kFirstRollupHours * kMicrosPerHour;
  // Hours retention has begun to delete would shrink if recomputed.
  const Micros oldest =
      o.retention_days > 0
          ? floor_hour(now - static_cast<Micros>(o.retention_days) * 24 * kMicrosPerHour) +
                kMicrosPerHour
          : 0;
  bool recovered_ok = true;
  std::vector<Micros> recovered;
  if (auto hours = store.hours_recovered_within(lookback, kMaxRecoveredHours); !hours) {
    log_event(LogLevel::warn, "aggregator: recovery changes not read",
              {{"error", hours.error().message}});
    recovered_ok = false;
  } else {
    if (static_cast<std::int64_t>(hours->size()) >= kMaxRecoveredHours) {
      log_event(LogLevel::warn,
                "aggregator: too many hours with recovery changes, the oldest not recomputed",
                {{"hours", std::to_string(hours->size())}});
    }
    for (Micros hour : *hours) {
      if (hour < from && hour >= oldest) recovered.push_back(hour);
    }
  }
  // Consecutive recovered hours go in one statement, a day at most; then the window's.
  for (std::size_t i = 0; i < recovered.size() && recovered_ok;) {
    std::size_t j = i + 1;
    while (j < recovered.size() && recovered[j] == recovered[j - 1] + kMicrosPerHour &&
           j - i < static_cast<std::size_t>(kRollupStepHours)) {
      ++j;
    }
    if (auto rolled = store.rollup_aggregates(recovered[i], recovered[j - 1] + kMicrosPerHour, now);
        !rolled) {
      log_event(LogLevel::warn, "aggregator: rollup failed", {{"error", rolled.error().message}});
      recovered_ok = false;
    }
    i = j;
  }
  if (!recovered_ok) recovered.clear();
  // Hours retention has begun to delete keep the rollups they had while whole: recomputing one
  // would count only what is left of it (nothing, once its rows are gone).
  const Micros start = std::max(from, oldest);
  // A step that fails leaves the window where it was (it is retried next run) but does not
  // hold the later steps, nor their exports: the current hour stays fresh whatever an old day
  // costs.
  std::vector<std::pair<Micros, Micros>> failed_steps;
  for (Micros step = start; step <= current; step += kRollupStepHours * kMicrosPerHour) {
    const Micros to = std::min(step + kRollupStepHours * kMicrosPerHour, current + kMicrosPerHour);
    if (auto rolled = store.rollup_aggregates(step, to, now); !rolled) {
      log_event(LogLevel::warn, "aggregator: rollup failed", {{"error", rolled.error().message}});
      ok = false;
      failed_steps.emplace_back(step, to);
    }
  }
  const auto rolled_up = [&](Micros hour) {
    for (const auto& [from_hour, to_hour] : failed_steps) {
      if (hour >= from_hour && hour < to_hour) return false;
    }
    return true;
  };

  // Every recomputed hour that holds rows, one query each; the current and the previous hour
  // always. An hour whose rows the limit cut is not written (and not marked final below).
  Micros hold_from = 0;
  enum class Exported { yes, failed, unreadable };
  const auto export_one = [&](Micros hour) {
    AggregateQuery q;
    q.since = hour;
    q.until = hour + kMicrosPerHour;
    q.limit = kMaxExportRows;
    auto rows = store.aggregates(TenantScope::all(), q);
    if (!rows) return Exported::unreadable;
    if (rows->size() >= static_cast<std::size_t>(q.limit)) {
      log_event(LogLevel::warn, "aggregator: hour not exported, too many rollup rows",
                {{"hour", format_rfc3339(hour)}});
      if (hour >= from && hold_from == 0) hold_from = hour;
      return Exported::yes;
    }
    if (rows->empty() && hour < current - kMicrosPerHour) return Exported::yes;
    if (auto written = export_hour(o.export_dir, hour, *rows); !written) {
      log_event(LogLevel::warn, "aggregator: export failed", {{"error", written.error().message}});
      if (hour >= from && hold_from == 0) hold_from = hour;
      return Exported::failed;
    }
    return Exported::yes;
  };
  if (!o.export_dir.empty()) {
    for (Micros hour : recovered) {
      const Exported exported = export_one(hour);
      if (exported != Exported::yes) recovered_ok = false;
      if (exported == Exported::unreadable) break;
    }
    for (Micros hour = start; hour <= current; hour += kMicrosPerHour) {
      if (!rolled_up(hour)) continue;  // its rollup is stale: exported once recomputed
      const Exported exported = export_one(hour);
      if (exported != Exported::yes) ok = false;
      if (exported == Exported::unreadable) break;
    }
  }
  st.window.finish(ok && positions_known, current, acknowledged, stored);
  if (hold_from != 0) st.window.hold(hold_from);
  // The next lookup of recovery changes starts from this one once its hours are recomputed
  // and exported; until then they are looked up again.
  if (recovered_ok) st.recoveries_looked_up = steady;
  ok = ok && recovered_ok;

  if (o.retention_days > 0) {
    const Micros cutoff = now - static_cast<Micros>(o.retention_days) * 24 * kMicrosPerHour;
    const Micros budget = std::min(o.aggregate_interval / 2, kRetentionBudgetMax);
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(budget);
    const std::int64_t batch = std::max<std::int64_t>(o.retention_batch_rows, 1);
    for (;;) {
      const auto started = std::chrono::steady_clock::now();
      auto deleted = store.delete_older_than(cutoff, batch);
      if (!deleted) {
        ok = false;
        break;
      }
      if (*deleted > 0) ctx->metrics.retention_deleted(static_cast<std::uint64_t>(*deleted));
      if (*deleted < batch) break;
      // The rest waits for the next run when the service stops or the database is isolated.
      if (ctx->status.shutting_down.load() || ctx->status.database_isolated(ctx->clock.steady())) {
        break;
      }
      // As long again between two batches: ingest's writes never queue behind a run of
      // deletes (on SQLite one writer at a time), at half the rate deletes could go.
      const auto done = std::chrono::steady_clock::now();
      if (done + (done - started) >= until) break;
      std::this_thread::sleep_for(done - started);
    }
  }

  if (!o.webhook_url.empty()) {
    StatsQuery q;
    q.since = now - kMicrosPerHour;
    q.top_n = 3;
    auto stats = store.stats(TenantScope::all(), q);
    if (stats) {
      if (auto body = st.alert->evaluate(*stats, 1, now)) {
        WebhookSender sender(o.webhook_url, ctx->webhook_secret.get());
        auto sent = sender.send(*body, now);
        ctx->metrics.webhook_delivery(sent ? Metrics::Outcome::success : Metrics::Outcome::failure);
        if (!sent) {
          st.alert->not_delivered(now);
          log_event(LogLevel::warn, "miss-rate alert not delivered",
                    {{"error", sent.error().message}});
        } else {
          st.alert->delivered(now);
          log_event(LogLevel::warn, "miss-rate alert sent");
        }
      }
    } else {
      ok = false;
    }
  }
  return ok;
}

aggregator_actor::behavior_type aggregator_behavior(Self self, PipelineContext* ctx) {
  name_this_thread("fc-aggregator");
  self->state.store = open_pipeline_store(*ctx, self->state.store_generation);
  MissRateAlertConfig alert;
  alert.threshold = ctx->options.alert_miss_rate;
  alert.min_failures = ctx->options.alert_min_failures;
  alert.cooldown = ctx->options.alert_cooldown;
  self->state.alert = std::make_unique<MissRateAlert>(alert);
  self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
  return {
      [=](tick_atom) {
        if (ctx->store_options.generation() != self->state.store_generation) {
          // Rotated credentials: reconnect (a new session must win leadership again).
          self->state.store = open_pipeline_store(*ctx, self->state.store_generation);
          self->state.leader = false;
        }
        bool ok = false;
        if (self->state.store) {
          try {
            ok = run_jobs(self, ctx);
          } catch (const std::exception& e) {
            log_event(LogLevel::error, "aggregator failed", {{"error", e.what()}});
          }
        }
        ctx->metrics.aggregator_run(ok ? Metrics::Outcome::success : Metrics::Outcome::failure);
        self->delayed_send(self, std::chrono::microseconds(ctx->options.aggregate_interval),
                           tick_atom::value);
      },
  };
}

}  // namespace

aggregator_actor spawn_aggregator(caf::actor_system& system, PipelineContext& ctx) {
  return system.spawn<caf::detached>(aggregator_behavior, &ctx);
}

}  // namespace failcat
