#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/pipeline_status.hpp"
#include "core/catalog.hpp"
#include "core/failure.hpp"
#include "core/failure_json.hpp"
#include "core/failure_query.hpp"
#include "core/matcher.hpp"
#include "core/request_parsing.hpp"
#include "core/result.hpp"

namespace failcat {

class FailureStore;

/// What an accepted ingest answers: each failure as stored, its match details, and whether it
/// was a replay of an earlier request with the same idempotency key.
struct IngestOutcome {
  std::vector<FailureRecord> records;
  std::vector<MatchDetails> details;
  std::vector<bool> replayed;
};

/// One ingest request travelling through matcher → persister. Completed exactly once: by the
/// persister once durable (or at once, in memory mode), or with an error. A job dropped
/// without an answer (an actor crashed holding it) answers "unavailable" from its destructor,
/// so no HTTP request ever waits forever.
///
/// The callback borrows the outcome for the duration of the call (the HTTP layer renders its
/// answer from it there and then); the persister then moves the records on to the database
/// batch, so an acknowledged failure is never copied.
class IngestJob {
 public:
  using Callback = std::function<void(const Result<IngestOutcome>&)>;
  /// Optional: runs on the matcher's thread once the outcome is known, before the job waits
  /// for durability, so the caller can prepare its answer (render JSON) in parallel rather
  /// than on the persister's thread. Whether the failure is acknowledged is still decided by
  /// `done`; the persister may yet replace a record (a key another request took meanwhile).
  using Prepare = std::function<void(const IngestOutcome&)>;

  IngestJob(std::vector<FailureInput> inputs, std::vector<std::optional<std::string>> keys,
            Callback done, Prepare prepare = {});
  ~IngestJob();
  IngestJob(const IngestJob&) = delete;
  IngestJob& operator=(const IngestJob&) = delete;

  /// Answers the caller with an error (or another outcome); later calls do nothing.
  void complete(Result<IngestOutcome> outcome);
  /// Answers the caller with `outcome`, which stays in the job afterwards (for the persister
  /// to move on); later calls do nothing.
  void succeed();
  bool completed() const { return completed_.load(); }
  /// The error for input `i` whose key already names a different failure (a 422 naming the
  /// key's field: `Idempotency-Key`, `event_id` or `failures[i].event_id`).
  Error key_reused(std::size_t i) const;
  /// Runs `prepare` (the matcher calls this once the outcome is filled).
  void prepare_answer() {
    if (prepare_) prepare_(outcome);
  }

  std::vector<FailureInput> inputs;
  /// Idempotency key per input (the item's `event_id`, or derived from the request header).
  std::vector<std::optional<std::string>> keys;
  /// Filled by the matcher (and by replays found before matching).
  IngestOutcome outcome;
  /// Set before matching for inputs already answered by an earlier request; empty (not
  /// sized) when there are none, which is the common case.
  std::vector<std::optional<FailureRecord>> replays;
  /// Per input: its replay came from this process's cache (so it may name a failure still on
  /// its way to the log, which the persister checks again), not from the database.
  std::vector<bool> replay_cached;
  void set_replay(std::size_t i, FailureRecord record, bool cached) {
    if (replays.size() < inputs.size()) replays.resize(inputs.size());
    if (replay_cached.size() < inputs.size()) replay_cached.resize(inputs.size());
    replays[i] = std::move(record);
    replay_cached[i] = cached;
  }

 private:
  Callback done_;
  Prepare prepare_;
  std::atomic<bool> completed_{false};
};
using IngestJobPtr = std::shared_ptr<IngestJob>;
/// Several matched jobs handed to the persister in one message (a busy matcher coalesces).
using IngestJobBatch = std::shared_ptr<std::vector<IngestJobPtr>>;

/// A batch of rows on its way to the database, with the WAL positions it covers.
struct PersistBatch {
  std::vector<FailureRecord> rows;
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
};
using PersistBatchPtr = std::shared_ptr<const PersistBatch>;

/// The answer to one persist attempt. Always a value (never an error message), so no actor
/// dies of an unhandled error reply.
struct PersistOutcome {
  /// `partial`: the database is healthy and part of the batch is stored (or set aside), the
  /// rest not yet (a refused batch ran out of time being split): send it again at once.
  enum class Status { stored, partial, rejected, failed, timed_out } status = Status::failed;
  std::size_t inserted = 0;
  Micros retry_after = 0;  ///< For `rejected`: how long the breaker stays open.
  std::string error;
};

/// Arbitrary work for a storage actor: runs `run` on that actor's own connection, then
/// `done` with ok or the reason it could not run (timeout, storage actor gone).
/// Work on a storage actor's connection (a read, or a recovery change), answered exactly once.
/// At the gateway's deadline a call still queued is abandoned and never runs, so "unavailable,
/// retry" is true of it; a read already running is abandoned too (nothing to undo). A write
/// that has started is answered with its real outcome when it ends: a 503 for a change that
/// then commits would invite the caller to make it twice.
class StoreCall {
 public:
  StoreCall(std::function<void(FailureStore&)> run, std::function<void(Status)> done,
            bool writes = false)
      : run_(std::move(run)), done_(std::move(done)), writes_(writes) {}
  /// Dropped unanswered (the actor holding it went away): the caller hears "unavailable".
  ~StoreCall() { finish(Error::unavailable("database unavailable")); }
  StoreCall(const StoreCall&) = delete;
  StoreCall& operator=(const StoreCall&) = delete;

  /// The storage actor: runs the call unless it was abandoned, then answers ok.
  void run(FailureStore& store) {
    int queued = kQueued;
    if (!state_.compare_exchange_strong(queued, kRunning)) return;
    run_(store);
    finish(ok_status());
  }
  /// Answers `status` unless answered already.
  void finish(Status status) {
    if (state_.exchange(kAnswered) != kAnswered && done_) done_(std::move(status));
  }
  /// The gateway at its deadline: answers `error` unless the call is a write already running.
  void abandon(Error error) {
    int queued = kQueued;
    if (state_.compare_exchange_strong(queued, kAnswered)) {
      if (done_) done_(std::move(error));
    } else if (!writes_) {
      finish(std::move(error));
    }
  }

 private:
  static constexpr int kQueued = 0;
  static constexpr int kRunning = 1;
  static constexpr int kAnswered = 2;
  std::function<void(FailureStore&)> run_;
  std::function<void(Status)> done_;
  const bool writes_;
  std::atomic<int> state_{kQueued};
};
using StoreCallPtr = std::shared_ptr<StoreCall>;

/// A match-only request (`POST /match`), answered exactly once: with the match, or with an
/// error — also from the destructor when an actor holding it went away, so the request never
/// waits forever. `release` runs once the job is gone (it frees the request's in-flight slot).
class MatchJob {
 public:
  using Done = std::function<void(const FailureInput&, const MatchResult&, const Catalog&)>;
  using Refused = std::function<void(const Error&)>;

  MatchJob(FailureInput in, Done done, Refused refused, std::function<void()> release = {});
  ~MatchJob();
  MatchJob(const MatchJob&) = delete;
  MatchJob& operator=(const MatchJob&) = delete;

  /// Answers with `m`, which must come from `catalog`'s matcher; later calls do nothing.
  void answer(const MatchResult& m, const Catalog& catalog);
  /// Answers with an error; later calls do nothing.
  void refuse(const Error& error);

  const FailureInput input;

 private:
  Done done_;
  Refused refused_;
  std::function<void()> release_;
  std::atomic<bool> answered_{false};
};
using MatchJobPtr = std::shared_ptr<MatchJob>;

/// A recovery change (PATCH of one failure, or a bulk update), answered exactly once through
/// `answer`: dropped unanswered (the actor holding it went away), it answers "unavailable"
/// from its destructor, so no request waits for an answer that never comes.
struct RecoveryJob {
  TenantScope scope = TenantScope::all();
  std::optional<std::string> id;        ///< Set: one failure (PATCH).
  std::optional<FailureFilter> filter;  ///< Set: every matching failure (bulk).
  RecoveryUpdate update;
  std::optional<std::vector<Micros>> if_updated_at;  ///< If-Match: any of these versions.
  std::function<void(Result<RecoveryUpdateResult>)> done_one;
  std::function<void(Result<std::int64_t>)> done_bulk;

  RecoveryJob() = default;
  RecoveryJob(const RecoveryJob&) = delete;
  RecoveryJob& operator=(const RecoveryJob&) = delete;
  ~RecoveryJob() { refuse(Error::unavailable("the change was not applied; retry")); }
  void answer(Result<RecoveryUpdateResult> result) {
    if (!answered_.exchange(true) && done_one) done_one(std::move(result));
  }
  void answer(Result<std::int64_t> result) {
    if (!answered_.exchange(true) && done_bulk) done_bulk(std::move(result));
  }
  void refuse(const Error& error) {
    if (id) {
      answer(Result<RecoveryUpdateResult>(error));
    } else {
      answer(Result<std::int64_t>(error));
    }
  }

 private:
  std::atomic<bool> answered_{false};
};
using RecoveryJobPtr = std::shared_ptr<RecoveryJob>;

/// An operator's breaker action with its answer callbacks, answered exactly once; dropped
/// unanswered (the breaker went away), it answers `refused` from its destructor.
struct BreakerCommand {
  std::optional<BreakerAction> action;  ///< nullopt: just report.
  std::function<void(const BreakerView&)> done;
  std::function<void(const Error&)> refused;

  BreakerCommand() = default;
  BreakerCommand(const BreakerCommand&) = delete;
  BreakerCommand& operator=(const BreakerCommand&) = delete;
  ~BreakerCommand() {
    if (!answered_.exchange(true) && refused) refused(Error::unavailable("breaker restarting"));
  }
  void answer(const BreakerView& view) {
    if (!answered_.exchange(true) && done) done(view);
  }

 private:
  std::atomic<bool> answered_{false};
};
using BreakerCommandPtr = std::shared_ptr<BreakerCommand>;

}  // namespace failcat
