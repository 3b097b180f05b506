// The persister owns the write-ahead log. An accepted failure is appended, group-committed
// and only then acknowledged; the persister then drains the log to the database in batches
// through the breaker, records how far the database has caught up, and trims the log. In
// memory mode it acknowledges at once and, like the design note's persister, drops (and
// counts) what the database does not take.
//
// Group commit: the fdatasyncs run on WAL syncer actors of their own threads while the
// persister goes on appending. Two groups may be in flight, one per syncer: a group is written
// and handed to a free syncer at once, so a lone failure is synced at once, the next group
// does not wait for a slow fsync (the disk flushing someone else's writes) before its own
// starts, and what arrives while both are busy forms the next group. A group is answered once
// it and the one before it are durable. Checkpoints (a file write and two fsyncs, once a
// second) run the same way on a third such actor, so no fsync ever blocks the thread that
// appends and acknowledges.
#include <algorithm>
#include <array>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "actors/pipeline_context.hpp"
#include "actors/side_file.hpp"
#include "config/logging.hpp"
#include "core/batch_policy.hpp"
#include "core/catalog.hpp"
#include "core/failure_codec.hpp"
#include "core/failure_json.hpp"
#include "core/in_order_release.hpp"
#include "core/thread_name.hpp"
#include "core/timestamp.hpp"
#include "metrics/metrics.hpp"
#include "storage/wal.hpp"

namespace failcat {

struct WalSyncJob;
/// Answers durable groups in log order. With two fsyncs in flight the later group's frames
/// follow the earlier one's in the log, and a crash before the earlier one is durable cuts
/// both off (recovery keeps the frames before the first torn one): a group is answered once
/// it and every group before it are durable, by the syncer that finishes last. After a failed
/// fsync it answers nothing more; the persister refuses those jobs.
using DurableOrder = InOrderRelease<WalSyncJob>;

/// One group's fsync, travelling persister → syncer → persister. Once the group is durable
/// a syncer answers its jobs (`DurableOrder`), saving the hop back to the persister's thread
/// before the callers hear; the persister then only does the bookkeeping.
struct WalSyncJob {
  WalSyncTicket ticket;
  std::vector<IngestJobPtr> jobs;
  /// Weak: the persister owns it, and a job it holds must not keep its jobs alive once the
  /// persister is gone (their destructors answer the callers).
  std::weak_ptr<DurableOrder> order;
  Status outcome = ok_status();
  double seconds = 0;
  std::atomic<bool> answered{false};  ///< The order released it: its callers heard 202.
};
using WalSyncJobPtr = std::shared_ptr<WalSyncJob>;

/// One checkpoint, travelling persister → checkpointer → persister.
struct WalCheckpointJob {
  WalCheckpointTicket ticket;
  Status outcome = ok_status();
};
using WalCheckpointJobPtr = std::shared_ptr<WalCheckpointJob>;

}  // namespace failcat

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::WalSyncJobPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(failcat::WalCheckpointJobPtr)

namespace failcat {
namespace {

using fsync_atom = caf::atom_constant<caf::atom("fsync")>;
/// Runs the blocking fsyncs of each group (or the checkpoints) on its own thread.
using wal_syncer_actor =
    caf::typed_actor<caf::replies_to<fsync_atom, WalSyncJobPtr>::with<WalSyncJobPtr>,
                     caf::replies_to<checkpt_atom, WalCheckpointJobPtr>::with<WalCheckpointJobPtr>>;

wal_syncer_actor::behavior_type wal_syncer_behavior(wal_syncer_actor::pointer, const char* thread) {
  name_this_thread(thread);
  return {
      [](fsync_atom, WalSyncJobPtr& job) -> WalSyncJobPtr {
        const auto started = std::chrono::steady_clock::now();
        job->outcome = job->ticket.run();
        job->seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (auto order = job->order.lock()) order->finish(job.get(), job->outcome.ok());
        return std::move(job);
      },
      [](checkpt_atom, WalCheckpointJobPtr& job) -> WalCheckpointJobPtr {
        job->outcome = job->ticket.run();
        return std::move(job);
      },
  };
}

constexpr Micros kCheckpointDelay = 1'000'000;
/// Beside the log: records that passed their CRC but this build cannot decode.
constexpr char kUndecodableRecordsFile[] = "undecodable-records.ndjson";
/// Beside the log: each damaged range of records found on opening it, once (a range found
/// again by a later start is not counted again).
constexpr char kLostRecordsFile[] = "lost-records.ndjson";
constexpr Micros kFailureBackoff = 200'000;
constexpr Micros kMinRejectBackoff = 100'000;
/// How often a persister with rows to send looks whether an operator released a breaker
/// forced open.
constexpr Micros kForcedOpenPoll = 250'000;
/// How long the persister waits before trying again to open a log it could not open (another
/// process still holding its lock in a rolling restart, a full file table), or to read past a
/// record it could not read or set aside; each doubled up to kMaxWalRetry.
constexpr Micros kWalRetry = 1'000'000;
constexpr Micros kMaxWalRetry = 30'000'000;
constexpr std::size_t kMaxBatchBytes = 16u << 20;
constexpr std::size_t kBacklogFactor = 16;

struct Pending {
  std::uint64_t lsn;
  FailureRecord record;
  std::size_t bytes;
};

/// A row appended to the WAL and not yet synced: its group's `jobs[job]`, record `index`.
struct Unsynced {
  std::uint64_t lsn;
  std::size_t job;
  std::size_t index;
  std::size_t bytes;
};

/// Jobs appended to the WAL and waiting for their fsync to be acknowledged; their records
/// stay in the jobs until then and move on to `pending` afterwards, in LSN order.
struct SyncGroup {
  std::vector<IngestJobPtr> jobs;
  std::vector<Unsynced> rows;
  bool empty() const { return jobs.empty() && rows.empty(); }
  void clear() {
    jobs.clear();
    rows.clear();
  }
};

/// A group with a syncer, oldest first.
struct InFlightSync {
  SyncGroup group;
  WalSyncJobPtr job;
  bool returned = false;  ///< Its reply is here (it waits for the ones before it).
  Status outcome = ok_status();
};

struct PersisterState {
  std::unique_ptr<Wal> wal;        ///< Null in memory mode (or when the log could not be opened).
  Micros wal_retry = kWalRetry;    ///< Before the next attempt to open the log.
  Micros drain_retry = kWalRetry;  ///< Before the next attempt to read past where it stalled.
  Micros wal_retry_at = 0;         ///< Steady time of that attempt (0: none due).
  std::unique_ptr<BatchPolicy> batch;
  std::array<wal_syncer_actor, Wal::kMaxSyncsInFlight> syncers;
  std::uint64_t syncs_sent = 0;
  std::shared_ptr<DurableOrder> order;
  wal_syncer_actor checkpointer;
  bool checkpoint_in_flight = false;
  SyncGroup collecting;              ///< Appended since the last group was handed to a syncer.
  std::deque<InFlightSync> syncing;  ///< With the syncers now, in log order.
  bool sync_failed = false;          ///< A group's fsync failed: no later group is durable.
  /// Indexes of one job's records that are new (not replays), reused from job to job.
  std::vector<std::size_t> fresh;
  /// Encodings of one job's records, reused from call to call.
  std::string scratch;
  std::vector<std::size_t> scratch_ends;
  /// Rows ready to persist, contiguous from `next_send_lsn` (the rest is only in the WAL).
  std::deque<Pending> pending;
  std::uint64_t next_send_lsn = 1;
  std::uint64_t memory_lsn = 0;  ///< Memory mode: positions handed out so far.
  /// first → last LSN of each batch out. A multimap: after a failed batch the rows are sent
  /// again from its first one, and a resent batch may start where one still in flight does
  /// (a map entry would be overwritten, and that batch's outcome would erase the other's, so
  /// `stored_through` could pass rows still out).
  std::multimap<std::uint64_t, std::uint64_t> inflight;
  std::uint64_t stored_through = 0;  ///< Every row up to here is in the database.
  bool flush_armed = false;
  bool checkpoint_armed = false;
  Micros retry_not_before = 0;
  /// The breaker refused the last batch: one batch of the configured size at a time (the
  /// probe) until one is stored, rather than reading a full backlog's worth of the log for
  /// batches that would be refused too.
  bool probing = false;
  bool draining = false;
  Micros drain_deadline = 0;
  caf::typed_response_promise<std::uint64_t> drain_promise;
  bool drain_pending = false;
  /// Memory mode: the drain counted what it left behind as dropped.
  bool losses_counted = false;
  /// The last undecodable record set aside (a re-read after a failed batch finds it again).
  std::uint64_t undecodable_kept_through = 0;
  PipelineContext* ctx = nullptr;
  static inline const char* name = "failcat.persister";

  PersisterState() = default;
  PersisterState(const PersisterState&) = delete;
  PersisterState& operator=(const PersisterState&) = delete;
  /// Gone (a crash, or the end of the actor system): the jobs it held answer 503 from their
  /// destructors, so their keys must not stay behind naming failures that may never be
  /// stored — a retry would be answered 202 as a replay of nothing. In memory mode the rows
  /// not yet sent to the database are lost, and counted.
  ~PersisterState();
};

/// Forgets the keys `job`'s own failures took (not those of its replays): it is not answered
/// with them, so no retry may be.
void forget_keys_of(PipelineContext* ctx, const IngestJob& job) {
  for (std::size_t i = 0; i < job.outcome.records.size(); ++i) {
    const auto& r = job.outcome.records[i];
    if (!job.outcome.replayed[i] && r.idempotency_key) {
      ctx->idempotency.erase(r.tenant_id, *r.idempotency_key);
    }
  }
}

void forget_unanswered_keys(PipelineContext* ctx, const SyncGroup& group) {
  for (const auto& job : group.jobs) {
    if (!job->completed()) forget_keys_of(ctx, *job);
  }
}

PersisterState::~PersisterState() {
  if (ctx == nullptr) return;
  // No syncer answers a group any more; one answering now finishes first (under the order's
  // lock), so what is read below is no longer moving.
  if (order) order->fail();
  forget_unanswered_keys(ctx, collecting);
  for (const auto& sync : syncing) forget_unanswered_keys(ctx, sync.group);
  if (ctx->options.durability == PipelineDurability::memory && !losses_counted &&
      !pending.empty()) {
    for (const auto& p : pending) ctx->idempotency.erase_owner(p.record);
    // A drain that ran out of time is a shutdown's loss; anything else, the actor's death.
    ctx->metrics.persist_dropped(
        draining ? Metrics::DropReason::shutdown : Metrics::DropReason::restart, pending.size());
    log_event(LogLevel::error, "memory mode: unpersisted failures lost with the persister",
              {{"count", std::to_string(pending.size())}});
  }
}

using Self = persister_actor::stateful_pointer<PersisterState>;

Metrics::MatchType metric_type(const std::string& t) {
  if (t == "exact") return Metrics::MatchType::exact;
  if (t == "prefix") return Metrics::MatchType::prefix;
  if (t == "pattern") return Metrics::MatchType::pattern;
  return Metrics::MatchType::fuzzy;
}

void count_accepted(PipelineContext* ctx, const IngestJob& job) {
  std::uint64_t fresh = 0;
  for (std::size_t i = 0; i < job.outcome.records.size(); ++i) {
    if (job.outcome.replayed[i]) continue;
    ++fresh;
    const auto& type = job.outcome.records[i].match_type;
    if (!type || *type == "miss") {
      ctx->metrics.match_miss();
    } else {
      ctx->metrics.match_hit(metric_type(*type));
    }
  }
  if (fresh > 0) ctx->metrics.ingested(fresh);
}

/// Counts and answers the jobs of a group that is durable.
void answer_group(PipelineContext* ctx, const std::vector<IngestJobPtr>& jobs) {
  for (const auto& j : jobs) {
    count_accepted(ctx, *j);
    j->succeed();
  }
}

bool memory_mode(PipelineContext* ctx) {
  return ctx->options.durability == PipelineDurability::memory;
}

std::uint64_t ready_end(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  if (memory_mode(ctx)) return st.memory_lsn;
  return st.wal ? st.wal->synced_lsn() : 0;
}

void publish(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  const std::uint64_t end = ready_end(self, ctx);
  const std::uint64_t backlog = end > st.stored_through ? end - st.stored_through : 0;
  // A reader takes `stored_through` before `acknowledged_through`; either may be newer than
  // the other, and both errors only keep hours in the aggregator's window longer.
  ctx->status.stored_through = st.stored_through;
  ctx->status.acknowledged_through = end;
  ctx->status.pending_rows = backlog;
  if (st.wal) {
    const auto stats = st.wal->stats();
    ctx->status.wal_bytes = stats.bytes_on_disk;
    ctx->status.wal_backlog_rows = stats.backlog_records;
    ctx->status.wal_full = stats.unpersisted_bytes + (64u << 10) >= ctx->options.wal_max_bytes;
    ctx->metrics.set_wal_bytes(stats.bytes_on_disk);
    ctx->metrics.set_wal_unpersisted_bytes(stats.unpersisted_bytes);
    ctx->metrics.set_wal_backlog_rows(stats.backlog_records);
  } else {
    ctx->status.wal_backlog_rows = backlog;
    ctx->metrics.set_wal_backlog_rows(backlog);
  }
}

void arm_flush(Self self, Micros delay) {
  auto& st = self->state;
  if (st.flush_armed) return;
  st.flush_armed = true;
  const auto d = std::chrono::microseconds(std::max<Micros>(delay, 200));
  // Urgent: timers and batch replies must not queue behind a flood of ingest messages.
  self->template delayed_send<caf::message_priority::high>(self, d, flush_atom::value);
}

void try_flush(Self self, PipelineContext* ctx);

bool drained(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  return st.inflight.empty() && st.next_send_lsn > ready_end(self, ctx) && st.syncing.empty() &&
         st.collecting.empty();
}

/// A checkpoint within a second once the database holds rows the last one does not cover.
void arm_checkpoint(Self self) {
  auto& st = self->state;
  if (!st.wal || st.checkpoint_armed || st.stored_through <= st.wal->persisted_lsn()) return;
  st.checkpoint_armed = true;
  self->delayed_send<caf::message_priority::high>(self, std::chrono::microseconds(kCheckpointDelay),
                                                  checkpt_atom::value);
}

void finish_drain_if_done(Self self, PipelineContext* ctx);

/// `ran_elsewhere`: the checkpointer ran it, so a drain waiting for it may now finish.
void checkpoint_done(Self self, PipelineContext* ctx, const WalCheckpointJob& job,
                     bool ran_elsewhere) {
  auto& st = self->state;
  st.checkpoint_in_flight = false;
  if (auto finished = st.wal->finish_checkpoint(job.ticket, job.outcome); !finished) {
    log_event(LogLevel::error, "wal checkpoint failed", {{"error", finished.error().message}});
  }
  publish(self, ctx);
  arm_checkpoint(self);
  if (ran_elsewhere) finish_drain_if_done(self, ctx);
}

/// Checkpoints what the database holds, on the checkpointer; `wait` does it on this thread
/// (at shutdown, when nothing else is left to do).
void checkpoint(Self self, PipelineContext* ctx, bool wait = false) {
  auto& st = self->state;
  if (!st.wal || st.checkpoint_in_flight || st.stored_through <= st.wal->persisted_lsn()) return;
  const auto target = std::min(st.stored_through, st.wal->synced_lsn());
  auto ticket = st.wal->begin_checkpoint(target);
  if (!ticket) {
    log_event(LogLevel::error, "wal checkpoint failed", {{"error", ticket.error().message}});
    return;
  }
  auto job = std::make_shared<WalCheckpointJob>();
  job->ticket = std::move(*ticket);
  if (wait || !st.checkpointer) {
    job->outcome = job->ticket.run();
    checkpoint_done(self, ctx, *job, false);
    return;
  }
  st.checkpoint_in_flight = true;
  self->request<caf::message_priority::high>(st.checkpointer, caf::duration{caf::infinite},
                                             checkpt_atom::value, job)
      .then([=](const WalCheckpointJobPtr& done) { checkpoint_done(self, ctx, *done, true); },
            [=](caf::error& err) {
              // Only if the checkpointer is gone (the persister goes with it).
              job->outcome = Error::unavailable("wal checkpoint: " + self->system().render(err));
              checkpoint_done(self, ctx, *job, true);
            });
}

void finish_drain_if_done(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  if (!st.drain_pending) return;
  const bool done = drained(self, ctx);
  if (!done && ctx->clock.steady() < st.drain_deadline) return;
  // The last checkpoint covers everything stored; one in flight comes back here when done.
  if (st.checkpoint_in_flight) return;
  checkpoint(self, ctx, /*wait=*/true);
  const std::uint64_t end = ready_end(self, ctx);
  std::uint64_t left = end > st.stored_through ? end - st.stored_through : 0;
  st.losses_counted = true;
  if (memory_mode(ctx) && left > 0) {
    ctx->metrics.persist_dropped(Metrics::DropReason::shutdown, left);
    log_event(LogLevel::warn, "memory mode: unpersisted failures lost at shutdown",
              {{"count", std::to_string(left)}});
  }
  st.drain_pending = false;
  st.drain_promise.deliver(left);
}

/// Refuses the jobs of a group the log could not make durable (they count as refused because
/// the log failed).
void fail_group(PipelineContext* ctx, SyncGroup& group, const Error& error) {
  for (auto& job : group.jobs) {
    if (job->completed()) continue;  // answered already: its records are durable
    ctx->metrics.rejected(Metrics::RejectReason::wal_failed);
    forget_keys_of(ctx, *job);
    job->complete(error);
  }
  group.clear();
}

/// Marks the log failed: ingest is refused until the persister restarts. Said once, not for
/// every group or request refused afterwards.
void mark_wal_failed(PipelineContext* ctx, const Error& error) {
  if (ctx->status.wal_failed.exchange(true)) return;
  ctx->metrics.set_wal_failed(true);
  log_event(LogLevel::error, "wal failed: ingest refused until restart",
            {{"error", error.message}});
}

/// The groups with a syncer are left to their fsyncs: one that returns durable is answered
/// (its frames precede whatever failed), the others are refused when their replies come.
void wal_failed(Self self, PipelineContext* ctx, const Error& error) {
  auto& st = self->state;
  mark_wal_failed(ctx, error);
  fail_group(ctx, st.collecting, Error::unavailable("write-ahead log unavailable"));
}

void accept_ready(Self self, PipelineContext* ctx, Pending&& p) {
  auto& st = self->state;
  const bool contiguous =
      st.pending.empty() ? p.lsn == st.next_send_lsn : st.pending.back().lsn + 1 == p.lsn;
  // Memory mode keeps every row here (there is no log to re-read); admission bounds it.
  if (contiguous && (memory_mode(ctx) || st.pending.size() < ctx->options.memory_rows)) {
    st.batch->on_add(p.bytes);
    st.pending.push_back(std::move(p));
  }
  // Otherwise the row stays only in the WAL; the drainer re-reads it from there.
}

void sync_returned(Self self, PipelineContext* ctx, const WalSyncJob* job, const Status& outcome);

/// Hands the collected group to a syncer: at once when none is in flight, and while one is,
/// beside it if the log allows (not when the group starts a new segment): a group then waits
/// for the fsync in flight only while that one is the slower, not for it and then its own.
void start_sync(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  if (!st.wal) return;
  if (st.syncing.empty()) {
    if (!st.wal->has_unsynced() && st.collecting.empty()) return;
  } else if (st.collecting.empty() || !st.wal->can_begin_sync() || st.sync_failed) {
    return;
  }
  auto ticket = st.wal->begin_sync();
  if (!ticket) {
    wal_failed(self, ctx, ticket.error());
    return;
  }
  auto job = std::make_shared<WalSyncJob>();
  job->ticket = std::move(*ticket);
  job->jobs = st.collecting.jobs;
  job->order = st.order;
  InFlightSync sync;
  std::swap(sync.group, st.collecting);
  sync.job = job;
  st.syncing.push_back(std::move(sync));
  st.order->start(job);
  const auto& syncer = st.syncers[st.syncs_sent++ % st.syncers.size()];
  if (!syncer) {
    job->outcome = job->ticket.run();
    st.order->finish(job.get(), job->outcome.ok());
    sync_returned(self, ctx, job.get(), job->outcome);
    return;
  }
  // No timeout: a slow disk holds acknowledgements (admission then answers 503 once
  // FAILCAT_MAX_INFLIGHT wait) and everything resumes when it answers; only an fsync that
  // fails fails the log. The error branch runs only if the syncer is gone.
  self->request<caf::message_priority::high>(syncer, caf::duration{caf::infinite},
                                             fsync_atom::value, job)
      .then([=](const WalSyncJobPtr& done) { sync_returned(self, ctx, done.get(), done->outcome); },
            [=](caf::error& err) {
              // The syncer is gone with the job: it counts as failed, so the order answers
              // the groups before it and nothing after. Only its ticket's LSN is read here.
              self->state.order->finish(job.get(), false);
              sync_returned(self, ctx, job.get(),
                            Error::unavailable("wal fsync: " + self->system().render(err)));
            });
}

/// A syncer's reply: the groups before it first, then each in log order.
void sync_returned(Self self, PipelineContext* ctx, const WalSyncJob* job, const Status& outcome) {
  auto& st = self->state;
  auto it = std::find_if(st.syncing.begin(), st.syncing.end(),
                         [&](const InFlightSync& s) { return s.job.get() == job; });
  if (it == st.syncing.end()) return;
  it->returned = true;
  it->outcome = outcome;
  std::optional<Error> failed;
  while (!st.syncing.empty() && st.syncing.front().returned) {
    InFlightSync sync = std::move(st.syncing.front());
    st.syncing.pop_front();
    if (sync.outcome) ctx->metrics.wal_fsync(sync.job->seconds);
    if (!sync.outcome) st.sync_failed = true;
    auto synced = st.wal->finish_sync(sync.job->ticket, sync.outcome);
    if (sync.job->answered.load()) {
      // Durable, and a syncer has answered the callers: the records move on to the database
      // batches (even if the log failed since, for a group after this one).
      for (const auto& u : sync.group.rows) {
        auto& record = sync.group.jobs[u.job]->outcome.records[u.index];
        accept_ready(self, ctx, Pending{u.lsn, std::move(record), u.bytes});
      }
    } else {
      // Not durable, or after a group that is not (the order answers nothing after that):
      // these callers are refused.
      fail_group(ctx, sync.group, Error::unavailable("write-ahead log unavailable"));
    }
    if (!synced) failed = synced.error();
  }
  if (failed) {
    wal_failed(self, ctx, *failed);
    // Groups answered before the failure still go to the database.
    publish(self, ctx);
    try_flush(self, ctx);
    finish_drain_if_done(self, ctx);
    return;
  }
  // What arrived during that fsync is the next group.
  start_sync(self, ctx);
  publish(self, ctx);
  try_flush(self, ctx);
  finish_drain_if_done(self, ctx);
}

void on_outcome(Self self, PipelineContext* ctx, std::uint64_t first, std::uint64_t last,
                std::size_t rows, std::chrono::steady_clock::time_point started,
                const PersistOutcome& outcome) {
  auto& st = self->state;
  for (auto [it, end] = st.inflight.equal_range(first); it != end; ++it) {
    if (it->second == last) {
      st.inflight.erase(it);
      break;
    }
  }
  const Micros now = ctx->clock.steady();
  if (outcome.status == PersistOutcome::Status::stored) {
    st.probing = false;
    ctx->metrics.persist_batch(
        rows, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  } else if (memory_mode(ctx)) {
    const auto reason =
        outcome.status == PersistOutcome::Status::rejected    ? Metrics::DropReason::breaker_open
        : outcome.status == PersistOutcome::Status::timed_out ? Metrics::DropReason::timeout
                                                              : Metrics::DropReason::error;
    ctx->metrics.persist_dropped(reason, rows);
    if (outcome.status != PersistOutcome::Status::rejected) ctx->metrics.persist_error();
  } else {
    // The rows are safe in the WAL: send them again from the first one of this batch.
    st.next_send_lsn = std::min(st.next_send_lsn, first);
    st.pending.clear();
    st.batch->on_flush();
    if (outcome.status == PersistOutcome::Status::partial) {
      // A refused batch that ran out of time being split: the database is healthy, and what
      // was stored or set aside is skipped on the next pass, so it goes again at once.
      st.probing = false;
      log_event(LogLevel::info, "splitting a batch the database refused; sending the rest again",
                {{"rows", std::to_string(rows)}});
    } else if (outcome.status == PersistOutcome::Status::rejected) {
      st.probing = true;
      st.retry_not_before = now + std::max(outcome.retry_after, kMinRejectBackoff);
    } else {
      ctx->metrics.persist_error();
      st.retry_not_before = now + kFailureBackoff;
      log_event(LogLevel::warn, "persist failed; rows stay in the WAL",
                {{"rows", std::to_string(rows)}, {"error", outcome.error}});
    }
  }
  const std::uint64_t lowest_open = st.inflight.empty()
                                        ? st.next_send_lsn
                                        : std::min(st.inflight.begin()->first, st.next_send_lsn);
  st.stored_through = std::max(st.stored_through, lowest_open - 1);
  arm_checkpoint(self);
  publish(self, ctx);
  try_flush(self, ctx);
  finish_drain_if_done(self, ctx);
}

/// Counts acknowledged rows lost with damaged frames of the log as dropped: those above the
/// checkpoint (the checkpoint trails the database by up to kCheckpointDelay, so a row the
/// database took just before the crash may be among them: counted lost rather than missed).
/// Each damaged range once: a range is recorded in kLostRecordsFile when counted, and the
/// same damage found by a later start is only logged.
void count_lost_records(PipelineContext* ctx, const std::string& dir,
                        const std::vector<WalCorruption>& corruptions, std::uint64_t persisted) {
  if (corruptions.empty()) return;
  std::set<std::pair<std::string, std::uint64_t>> counted;
  std::ifstream in(std::filesystem::path(dir) / kLostRecordsFile);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("segment") && j["segment"].is_string() &&
        j.contains("first_lsn") && j["first_lsn"].is_number_unsigned()) {
      counted.emplace(j["segment"].get<std::string>(), j["first_lsn"].get<std::uint64_t>());
    }
  }
  for (const auto& c : corruptions) {
    log_event(LogLevel::error, "wal corruption: records lost",
              {{"segment", c.segment},
               {"first_lsn", std::to_string(c.first_lost_lsn)},
               {"last_lsn", std::to_string(c.last_lost_lsn)},
               {"reason", c.reason}});
    const std::uint64_t first = std::max(c.first_lost_lsn, persisted + 1);
    if (c.last_lost_lsn < first || counted.count({c.segment, c.first_lost_lsn}) != 0) continue;
    const nlohmann::json entry = {
        {"segment", c.segment},        {"first_lsn", c.first_lost_lsn},
        {"last_lsn", c.last_lost_lsn}, {"lost_rows", c.last_lost_lsn - first + 1},
        {"reason", c.reason},          {"detected_at", format_rfc3339(ctx->clock.now())}};
    if (auto kept = append_durably(dir, kLostRecordsFile, entry.dump() + "\n"); !kept) {
      // Counted all the same: a loss counted twice beats one never counted.
      log_event(LogLevel::error, "lost wal records could not be recorded",
                {{"file", kLostRecordsFile}, {"error", kept.error().message}});
    }
    ctx->metrics.persist_dropped(Metrics::DropReason::wal_error,
                                 static_cast<std::size_t>(c.last_lost_lsn - first + 1));
  }
}

/// One batch per storage actor (connection) at most.
std::size_t max_batches_in_flight(PipelineContext* ctx) {
  return static_cast<std::size_t>(std::clamp(ctx->options.storage_actors, 1, 16));
}

/// Whether the next rows to send are still in memory (else they are re-read from the WAL).
bool next_rows_in_memory(const PersisterState& st) {
  return !st.pending.empty() && st.pending.front().lsn == st.next_send_lsn;
}

/// Takes the next batch: from memory when it holds the next rows, else from the WAL.
std::vector<Pending> take_batch(Self self, PipelineContext* ctx, std::uint64_t end) {
  auto& st = self->state;
  std::vector<Pending> rows;
  // A backlog goes out in larger batches: fewer round trips when the database lags. Each
  // batch takes its share of the backlog across the batches that may be in flight, up to
  // kBacklogFactor times the configured size.
  const std::uint64_t backlog = end >= st.next_send_lsn ? end - st.next_send_lsn + 1 : 0;
  const std::size_t base = ctx->options.batch_rows;
  const std::size_t share = static_cast<std::size_t>(backlog / max_batches_in_flight(ctx));
  const std::size_t max_rows = st.probing ? base : std::clamp(share, base, kBacklogFactor * base);
  if (next_rows_in_memory(st)) {
    std::size_t bytes = 0;
    while (!st.pending.empty() && rows.size() < max_rows && st.pending.front().lsn <= end) {
      bytes += st.pending.front().bytes;
      rows.push_back(std::move(st.pending.front()));
      st.pending.pop_front();
    }
    st.batch->on_flush(rows.size(), bytes);
    return rows;
  }
  st.pending.clear();
  st.batch->on_flush();
  if (!st.wal) return rows;
  auto records = st.wal->read_from(st.next_send_lsn, max_rows, kMaxBatchBytes);
  if (!records) {
    log_event(LogLevel::error, "wal read failed", {{"error", records.error().message}});
    return rows;
  }
  for (auto& rec : *records) {
    if (rec.lsn < st.next_send_lsn || rec.lsn > end) continue;
    auto decoded = decode_failure(rec.payload);
    if (!decoded && rec.lsn <= st.undecodable_kept_through) {
      rows.push_back(Pending{rec.lsn, FailureRecord{}, 0});
      continue;
    }
    if (!decoded) {
      // It passed its CRC, so this is a format this build cannot read (a log a newer build
      // wrote before a rollback): its bytes are set aside durably before the log may go past
      // it. Until they are, the drain stops here and the record stays in the log.
      static constexpr char kHex[] = "0123456789abcdef";
      std::string hex;
      hex.reserve(rec.payload.size() * 2);
      for (unsigned char c : rec.payload) {
        hex += kHex[c >> 4];
        hex += kHex[c & 15];
      }
      nlohmann::json line = {{"lsn", rec.lsn},
                             {"payload_hex", std::move(hex)},
                             {"set_aside_at", format_rfc3339(ctx->clock.now())}};
      if (auto kept =
              append_durably(ctx->options.wal_dir, kUndecodableRecordsFile, line.dump() + "\n");
          !kept) {
        log_event(LogLevel::error, "undecodable wal record could not be set aside; drain waits",
                  {{"lsn", std::to_string(rec.lsn)}, {"error", kept.error().message}});
        break;
      }
      log_event(LogLevel::error, "undecodable wal record set aside",
                {{"lsn", std::to_string(rec.lsn)}, {"file", kUndecodableRecordsFile}});
      ctx->metrics.persist_dropped(Metrics::DropReason::wal_error);
      st.undecodable_kept_through = rec.lsn;
      rows.push_back(Pending{rec.lsn, FailureRecord{}, 0});
      continue;
    }
    rows.push_back(Pending{rec.lsn, std::move(*decoded), rec.payload.size()});
  }
  ctx->metrics.wal_reread(rows.size());
  return rows;
}

/// Batches in flight at once: one while probing; every storage connection for rows still in
/// memory (live traffic); half of them, at least one, for a backlog re-read from the log, so
/// that catching up after an outage leaves the database and the machine room for live traffic
/// (measured in docs/benchmarks.md).
std::size_t batch_limit(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  if (st.probing) return 1;
  const std::size_t all = max_batches_in_flight(ctx);
  return next_rows_in_memory(st) ? all : std::max<std::size_t>(1, all / 2);
}

void try_flush(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  while (st.inflight.size() < batch_limit(self, ctx)) {
    const Micros now = ctx->clock.steady();
    if (now < st.retry_not_before) {
      arm_flush(self, st.retry_not_before - now);
      return;
    }
    const std::uint64_t end = ready_end(self, ctx);
    if (st.next_send_lsn > end) return;
    // A breaker forced open refuses everything until the operator releases it: the rows wait
    // in the log (or memory) instead of being read and refused in a loop. Memory mode sends
    // on and counts what is refused, as the operator asked.
    if (!memory_mode(ctx) && ctx->status.breaker_mode.load() == kBreakerForcedOpen) {
      arm_flush(self, kForcedOpenPoll);
      return;
    }
    const std::uint64_t available = end - st.next_send_lsn + 1;
    const bool only_in_wal = !next_rows_in_memory(st);
    if (!st.draining && !only_in_wal && available < ctx->options.batch_rows &&
        !st.batch->should_flush(now)) {
      if (auto deadline = st.batch->next_deadline()) arm_flush(self, *deadline - now);
      return;
    }
    auto taken = take_batch(self, ctx, end);
    if (taken.empty()) {
      // Rows are due but none could be read (a read error, a record that could not be set
      // aside): look again later, with or without new ingest to wake the drain.
      arm_flush(self, st.drain_retry);
      st.drain_retry = std::min(st.drain_retry * 2, kMaxWalRetry);
      return;
    }
    st.drain_retry = kWalRetry;
    auto batch = std::make_shared<PersistBatch>();
    batch->first_lsn = st.next_send_lsn;
    batch->last_lsn = taken.back().lsn;
    batch->rows.reserve(taken.size());
    for (auto& p : taken) {
      if (!p.record.id.empty()) batch->rows.push_back(std::move(p.record));
    }
    st.next_send_lsn = batch->last_lsn + 1;
    st.inflight.emplace(batch->first_lsn, batch->last_lsn);
    auto breaker = ctx->directory.breaker();
    const std::uint64_t first = batch->first_lsn;
    const std::uint64_t last = batch->last_lsn;
    const std::size_t rows = batch->rows.size();
    const auto started = std::chrono::steady_clock::now();
    if (!breaker) {
      PersistOutcome gone;
      gone.error = "breaker unavailable";
      if (memory_mode(ctx)) {
        for (const auto& r : batch->rows) ctx->idempotency.erase_owner(r);
      }
      on_outcome(self, ctx, first, last, rows, started, gone);
      return;
    }
    // Memory mode drops a batch the database does not take: its keys must go with it.
    PersistBatchPtr dropped_if_refused = memory_mode(ctx) ? batch : nullptr;
    auto forget_dropped = [ctx, dropped_if_refused](const PersistOutcome& outcome) {
      if (!dropped_if_refused || outcome.status == PersistOutcome::Status::stored) return;
      for (const auto& r : dropped_if_refused->rows) ctx->idempotency.erase_owner(r);
    };
    // The breaker answers within the persist timeout; this bound only guards a lost reply.
    const auto guard = std::chrono::microseconds(2 * ctx->options.persist_timeout + 1'000'000);
    self->request<caf::message_priority::high>(breaker, guard, persist_atom::value,
                                               PersistBatchPtr(std::move(batch)))
        .then(
            [=](const PersistOutcome& outcome) {
              forget_dropped(outcome);
              on_outcome(self, ctx, first, last, rows, started, outcome);
            },
            [=](caf::error& err) {
              PersistOutcome lost;
              lost.status = PersistOutcome::Status::timed_out;
              lost.error = self->system().render(err);
              forget_dropped(lost);
              on_outcome(self, ctx, first, last, rows, started, lost);
            });
  }
}

void on_ingest(Self self, PipelineContext* ctx, const IngestJobPtr& job) {
  auto& st = self->state;
  if (job->completed()) return;
  auto& out = job->outcome;
  // A key another request took meanwhile answers with that request's failure.
  auto& fresh = st.fresh;  // reused from job to job
  fresh.clear();
  std::optional<std::size_t> reused;  // an input whose key another failure took meanwhile
  bool vanished = false;              // a cached replay's failure was refused meanwhile
  for (std::size_t i = 0; i < out.records.size(); ++i) {
    if (out.replayed[i]) {
      // A replay read from the cache on an HTTP thread may name a failure this thread has
      // refused since (its key left the cache): nothing holds it, so no 202 may name it.
      if (i < job->replay_cached.size() && job->replay_cached[i]) {
        const auto& r = out.records[i];
        const auto owner = r.idempotency_key
                               ? ctx->idempotency.find(r.tenant_id, *r.idempotency_key)
                               : std::nullopt;
        if (!owner || owner->id != r.id) {
          vanished = true;
          break;
        }
      }
      continue;
    }
    if (out.records[i].idempotency_key) {
      auto owner = ctx->idempotency.insert_if_absent(out.records[i]);
      if (owner.id != out.records[i].id) {
        if (!same_reported_failure(out.records[i], owner)) {
          reused = i;
          break;
        }
        if (owner.catalog_entry_id != out.records[i].catalog_entry_id) {
          // Matched before a reload moved this message elsewhere: the owner's entry speaks.
          out.details[i] = replay_details(owner, MatchResult{}, *ctx->catalog.current());
        }
        out.records[i] = std::move(owner);
        out.replayed[i] = true;
        continue;
      }
    }
    fresh.push_back(i);
  }
  auto forget_keys = [&] {
    for (auto i : fresh) {
      const auto& r = out.records[i];
      if (r.idempotency_key) ctx->idempotency.erase(r.tenant_id, *r.idempotency_key);
    }
  };
  if (reused) {
    forget_keys();
    job->complete(job->key_reused(*reused));
    return;
  }
  if (vanished) {
    forget_keys();
    job->complete(Error::unavailable("the first request with this key was not accepted; retry"));
    return;
  }
  if (fresh.empty()) {
    // Only replays. The failure a key names may still be on its way to the disk (a retry
    // close behind its first request): answered no earlier than everything the log holds
    // before it, with the group being collected (one without records syncs no file) — and
    // refused with it if the log fails first.
    if (!memory_mode(ctx) && st.wal && st.wal->has_unsynced()) {
      st.collecting.jobs.push_back(job);
      return;
    }
    job->succeed();
    return;
  }
  if (memory_mode(ctx)) {
    const std::uint64_t backlog = st.memory_lsn - st.stored_through;
    if (backlog + fresh.size() > ctx->options.memory_rows) {
      forget_keys();
      ctx->metrics.rejected(Metrics::RejectReason::overloaded);
      job->complete(Error{ErrorKind::overloaded, "persist queue full", {}});
      return;
    }
    count_accepted(ctx, *job);
    job->succeed();
    for (auto i : fresh) {
      accept_ready(self, ctx, Pending{++st.memory_lsn, std::move(out.records[i]), 256});
    }
    publish(self, ctx);
    try_flush(self, ctx);
    return;
  }
  if (!st.wal || ctx->status.wal_failed) {
    forget_keys();
    ctx->metrics.rejected(ctx->status.wal_failed ? Metrics::RejectReason::wal_failed
                                                 : Metrics::RejectReason::not_ready);
    job->complete(Error::unavailable("write-ahead log unavailable"));
    return;
  }
  st.scratch.clear();
  st.scratch_ends.clear();
  for (auto i : fresh) {
    encode_failure_to(st.scratch, out.records[i]);
    st.scratch_ends.push_back(st.scratch.size());
  }
  const std::uint64_t bytes = st.scratch.size() + 8 * fresh.size();
  if (st.wal->stats().unpersisted_bytes + bytes > ctx->options.wal_max_bytes) {
    forget_keys();
    ctx->status.wal_full = true;
    ctx->metrics.rejected(Metrics::RejectReason::wal_full);
    job->complete(Error{ErrorKind::overloaded, "write-ahead log full", {}});
    return;
  }
  auto& group = st.collecting;
  const std::size_t slot = group.jobs.size();
  for (std::size_t k = 0; k < fresh.size(); ++k) {
    const std::size_t begin = k == 0 ? 0 : st.scratch_ends[k - 1];
    const std::string_view payload(st.scratch.data() + begin, st.scratch_ends[k] - begin);
    auto lsn = st.wal->append(payload);
    if (!lsn) {
      // Records appended before this one are in the log but never acknowledged; the drainer
      // re-reads them from there and stores them, which is harmless (nobody was told they were
      // lost either).
      while (!group.rows.empty() && group.rows.back().job == slot) group.rows.pop_back();
      forget_keys();
      if (lsn.error().kind == ErrorKind::overloaded) {
        ctx->metrics.rejected(Metrics::RejectReason::wal_full);
        job->complete(Error{ErrorKind::overloaded, "write-ahead log full", {}});
      } else {
        mark_wal_failed(ctx, lsn.error());
        ctx->metrics.rejected(Metrics::RejectReason::wal_failed);
        job->complete(Error::unavailable("write-ahead log unavailable"));
      }
      return;
    }
    group.rows.push_back(Unsynced{*lsn, slot, fresh[k], payload.size()});
  }
  group.jobs.push_back(job);
}

/// Opens the log and replays what it holds; false (said) when it cannot be opened.
bool open_wal(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  WalOptions options;
  options.dir = ctx->options.wal_dir;
  options.max_bytes = ctx->options.wal_max_bytes;
  options.segment_bytes = ctx->options.wal_segment_bytes;
  options.datasync = ctx->options.wal_datasync;
  auto wal = Wal::open(options);
  if (!wal) {
    ctx->status.wal_failed = true;
    ctx->metrics.set_wal_failed(true);
    log_event(LogLevel::error, "cannot open the write-ahead log; trying again",
              {{"dir", options.dir},
               {"error", wal.error().message},
               {"retry_ms", std::to_string(st.wal_retry / 1000)}});
    return false;
  }
  st.wal = std::move(*wal);
  ctx->status.wal_failed = false;
  ctx->metrics.set_wal_failed(false);
  // Linked: if either goes, both go, and the supervisor restarts the persister.
  st.order = std::make_shared<DurableOrder>([ctx](WalSyncJob& job) {
    answer_group(ctx, job.jobs);
    job.answered = true;
  });
  for (auto& syncer : st.syncers) {
    syncer = self->template spawn<caf::detached + caf::linked>(wal_syncer_behavior, "fc-wal-sync");
  }
  st.checkpointer =
      self->template spawn<caf::detached + caf::linked>(wal_syncer_behavior, "fc-wal-checkpt");
  const auto& report = st.wal->recovery();
  count_lost_records(ctx, options.dir, report.corruptions, st.wal->persisted_lsn());
  // Keys of failures still waiting in the log must answer retries after a restart too.
  auto rebuilt = st.wal->replay([&](std::uint64_t, std::string_view payload) {
    auto record = decode_failure(payload);
    if (record && record->idempotency_key) ctx->idempotency.insert_if_absent(*record);
  });
  if (!rebuilt) {
    log_event(LogLevel::error, "wal replay failed", {{"error", rebuilt.error().message}});
  }
  st.stored_through = st.wal->persisted_lsn();
  st.next_send_lsn = st.stored_through + 1;
  log_event(LogLevel::info, "write-ahead log open",
            {{"dir", options.dir},
             {"replay_records", std::to_string(report.replay_records)},
             {"torn_bytes_dropped", std::to_string(report.torn_bytes_dropped)}});
  return true;
}

/// In WAL mode without a log (it could not be opened: another process still holding its lock
/// in a rolling restart, a full file table): opens it once the next attempt is due, else
/// wakes up then. Ingest is refused meanwhile, and the backlog waits in the files.
void open_wal_when_due(Self self, PipelineContext* ctx) {
  auto& st = self->state;
  if (memory_mode(ctx) || st.wal) return;
  const Micros now = ctx->clock.steady();
  if (st.wal_retry_at != 0 && now < st.wal_retry_at) {
    arm_flush(self, st.wal_retry_at - now);
    return;
  }
  if (open_wal(self, ctx)) {
    st.wal_retry = kWalRetry;
    st.wal_retry_at = 0;
    publish(self, ctx);
    ctx->status.persister_ready = true;
    return;
  }
  st.wal_retry_at = now + st.wal_retry;
  st.wal_retry = std::min(st.wal_retry * 2, kMaxWalRetry);
  arm_flush(self, st.wal_retry_at - now);
}

persister_actor::behavior_type persister_behavior(Self self, PipelineContext* ctx) {
  name_this_thread("fc-persister");
  auto& st = self->state;
  st.ctx = ctx;
  BatchPolicyConfig batch;
  batch.max_rows = ctx->options.batch_rows;
  batch.max_age = ctx->options.batch_age;
  st.batch = std::make_unique<BatchPolicy>(ctx->clock, batch);

  open_wal_when_due(self, ctx);
  // Positions first: the aggregator trusts them once the persister is ready.
  publish(self, ctx);
  ctx->status.persister_ready = memory_mode(ctx) || st.wal != nullptr;
  // Drain whatever a previous run left in the log.
  self->send(self, flush_atom::value);

  return {
      // Published after each message too, so the WAL gauges (what FAILCAT_WAL_MAX_BYTES caps)
      // follow the appends rather than the group cycles.
      [=](ingest_atom, const IngestJobPtr& job) {
        on_ingest(self, ctx, job);
        start_sync(self, ctx);
        publish(self, ctx);
      },
      [=](ingest_atom, const IngestJobBatch& jobs) {
        for (const auto& job : *jobs) on_ingest(self, ctx, job);
        start_sync(self, ctx);
        publish(self, ctx);
      },
      [=](flush_atom) {
        self->state.flush_armed = false;
        open_wal_when_due(self, ctx);
        try_flush(self, ctx);
        finish_drain_if_done(self, ctx);
      },
      [=](checkpt_atom) {
        self->state.checkpoint_armed = false;
        checkpoint(self, ctx);
      },
      [=](drain_atom, Micros deadline) -> caf::result<std::uint64_t> {
        auto& s = self->state;
        s.draining = true;
        s.drain_deadline = deadline;
        s.retry_not_before = 0;
        s.drain_promise = self->make_response_promise<std::uint64_t>();
        s.drain_pending = true;
        start_sync(self, ctx);
        try_flush(self, ctx);
        // Wake up at the deadline at the latest.
        const Micros now = ctx->clock.steady();
        self->delayed_send(self, std::chrono::microseconds(std::max<Micros>(deadline - now, 1000)),
                           flush_atom::value);
        finish_drain_if_done(self, ctx);
        return s.drain_promise;
      },
  };
}

}  // namespace

persister_actor spawn_persister(caf::actor_system& system, PipelineContext& ctx) {
  return system.spawn<caf::detached>(persister_behavior, &ctx);
}

}  // namespace failcat
