#include "actors/failure_service.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <thread>

#include "actors/actor_types.hpp"
#include "actors/pipeline_context.hpp"
#include "actors/supervisor.hpp"
#include "config/logging.hpp"
#include "core/catalog.hpp"
#include "core/failure_json.hpp"
#include "core/uuid.hpp"
#include "metrics/metrics.hpp"
#include "storage/failure_store.hpp"

namespace failcat {

class FailureService::Impl {
 public:
  Impl(const PipelineOptions& options, Metrics& metrics, CatalogHolder& catalog, const Clock& clock)
      : idempotency_(100'000),
        store_options_(options.store),
        webhook_secret_(options.webhook_secret),
        ctx_{options,      metrics,    catalog,        clock,          status_,
             idempotency_, directory_, store_options_, webhook_secret_} {}

  Status start() {
    config_ = std::make_unique<caf::actor_system_config>();
    config_->set("scheduler.max-threads",
                 static_cast<std::size_t>(std::max(1, ctx_.options.matcher_actors)));
    // A worker runs one actor for at most this many messages before taking the next: without
    // a bound a matcher with thousands of queued failures keeps its thread, and the breaker's
    // and gateway's messages (persist batches, reads) wait behind all of them.
    config_->set("scheduler.max-throughput", std::size_t{256});
    // One shared queue with a condition variable rather than work stealing: an idle stealing
    // worker polls with short sleeps before it blocks, and a message that arrives meanwhile
    // waits for the next poll. Measured on the 2-core machine at half of peak HTTP load: p90
    // 5-7 ms instead of 8-11 ms, same throughput (docs/benchmarks.md).
    config_->set("scheduler.policy", caf::atom("sharing"));
    system_ = std::make_unique<caf::actor_system>(*config_);
    auto& sys = *system_;
    std::vector<ChildSpec> children;
    for (int i = 0; i < ctx_.options.storage_actors; ++i) {
      children.push_back(
          {"storage",
           [this, &sys, i] {
             auto a = spawn_storage(sys, ctx_);
             directory_.set_storage(static_cast<std::size_t>(i), a);
             return caf::actor_cast<caf::actor>(a);
           },
           [this, i] { directory_.set_storage(static_cast<std::size_t>(i), storage_actor{}); }});
    }
    children.push_back({"breaker",
                        [this, &sys] {
                          auto a = spawn_breaker(sys, ctx_);
                          directory_.set_breaker(a);
                          return caf::actor_cast<caf::actor>(a);
                        },
                        [this] { directory_.set_breaker(breaker_actor{}); }});
    children.push_back({"persister",
                        [this, &sys] {
                          auto a = spawn_persister(sys, ctx_);
                          directory_.set_persister(a);
                          return caf::actor_cast<caf::actor>(a);
                        },
                        [this] {
                          directory_.set_persister(persister_actor{});
                          status_.persister_ready = false;
                        }});
    for (int i = 0; i < ctx_.options.matcher_actors; ++i) {
      children.push_back(
          {"matcher",
           [this, &sys, i] {
             auto a = spawn_matcher(sys, ctx_);
             directory_.set_matcher(static_cast<std::size_t>(i), a);
             return caf::actor_cast<caf::actor>(a);
           },
           [this, i] { directory_.set_matcher(static_cast<std::size_t>(i), matcher_actor{}); }});
    }
    children.push_back({"gateway",
                        [this, &sys] {
                          auto a = spawn_gateway(sys, ctx_);
                          directory_.set_gateway(a);
                          return caf::actor_cast<caf::actor>(a);
                        },
                        [this] { directory_.set_gateway(gateway_actor{}); }});
    children.push_back({"aggregator",
                        [this, &sys] {
                          auto a = spawn_aggregator(sys, ctx_);
                          directory_.set_aggregator(a);
                          return caf::actor_cast<caf::actor>(a);
                        },
                        [this] { directory_.set_aggregator(aggregator_actor{}); }});
    supervisor_ = spawn_supervisor(sys, std::move(children), ctx_.metrics);
    // The supervisor starts its children on a scheduler thread: wait until every handle is
    // published, so the first request finds the pipeline complete.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!directory_.complete(static_cast<std::size_t>(ctx_.options.matcher_actors),
                                static_cast<std::size_t>(ctx_.options.storage_actors))) {
      if (std::chrono::steady_clock::now() > deadline) {
        return Error::unavailable("actors did not start within 30 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return ok_status();
  }

  std::uint64_t stop(Micros deadline) {
    if (!system_) return 0;
    status_.shutting_down = true;
    std::uint64_t left = 0;
    if (auto persister = directory_.persister()) {
      caf::scoped_actor self{*system_};
      const Micros now = ctx_.clock.steady();
      const auto wait = std::chrono::microseconds(std::max<Micros>(deadline - now, 0) + 500'000);
      self->request(persister, wait, drain_atom::value, deadline)
          .receive([&](std::uint64_t remaining) { left = remaining; },
                   [&](caf::error& err) {
                     log_event(LogLevel::warn, "drain did not finish",
                               {{"error", system_->render(err)}});
                     left = status_.pending_rows.load();
                   });
    }
    caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
    supervisor_ = nullptr;
    system_->await_all_actors_done();
    directory_.clear();
    system_.reset();
    return left;
  }

  /// Takes an in-flight slot for an ingest or a match (they share the matchers), or says why
  /// not: the service is stopping, or FAILCAT_MAX_INFLIGHT requests are in flight already.
  std::optional<Error> admit() {
    if (status_.shutting_down) {
      ctx_.metrics.rejected(Metrics::RejectReason::shutting_down);
      return Error{ErrorKind::overloaded, "shutting down", {}};
    }
    const auto max = static_cast<std::int64_t>(ctx_.options.max_inflight);
    if (status_.inflight.fetch_add(1) >= max) {
      status_.inflight.fetch_sub(1);
      ctx_.metrics.rejected(Metrics::RejectReason::overloaded);
      return Error{ErrorKind::overloaded, "too many requests in flight", {}};
    }
    return std::nullopt;
  }

  void ingest(std::vector<FailureInput> inputs, std::vector<std::optional<std::string>> keys,
              IngestJob::Callback done, IngestJob::Prepare prepare) {
    if (auto refused = admit()) {
      done(std::move(*refused));
      return;
    }
    PipelineStatus* status = &status_;
    auto finish = [status, done = std::move(done)](const Result<IngestOutcome>& outcome) {
      status->inflight.fetch_sub(1);
      done(outcome);
    };
    keys.resize(inputs.size());
    auto job = std::make_shared<IngestJob>(std::move(inputs), std::move(keys), std::move(finish),
                                           std::move(prepare));
    // Keys answered by recent ingests need no database round trip.
    std::vector<std::size_t> unknown;
    for (std::size_t i = 0; i < job->inputs.size(); ++i) {
      if (!job->keys[i]) continue;
      const auto tenant = job->inputs[i].tenant_id.value_or(std::string(kDefaultTenant));
      if (auto hit = idempotency_.find(tenant, *job->keys[i])) {
        if (!replay_or_refuse(*job, i, std::move(*hit), /*cached=*/true)) return;
      } else {
        unknown.push_back(i);
      }
    }
    // Older keys live in the database; skip the lookup while the database is known to be
    // down. A retry of an old key then gets a new id; its row is stored too when the database
    // is back (no acknowledged failure is dropped), and the key keeps naming the first.
    if (unknown.empty() || status_.breaker_state.load() == 1) {
      submit(job);
      return;
    }
    auto found = std::make_shared<std::vector<std::optional<FailureRecord>>>(unknown.size());
    // Copies: a lookup the gateway gave up on may still run while the matcher moves the
    // job's inputs on.
    std::vector<std::pair<std::string, std::string>> keys_to_find;
    for (const auto i : unknown) {
      keys_to_find.emplace_back(job->inputs[i].tenant_id.value_or(std::string(kDefaultTenant)),
                                *job->keys[i]);
    }
    auto run = [keys_to_find = std::move(keys_to_find), found](FailureStore& store) {
      for (std::size_t k = 0; k < keys_to_find.size(); ++k) {
        auto r = store.find_by_idempotency_key(keys_to_find[k].first, keys_to_find[k].second);
        if (r && *r) (*found)[k] = std::move(**r);
      }
    };
    auto looked_up = [this, job, unknown, found](Status ran) {
      if (ran) {
        for (std::size_t k = 0; k < unknown.size(); ++k) {
          if ((*found)[k] &&
              !replay_or_refuse(*job, unknown[k], std::move(*(*found)[k]), /*cached=*/false)) {
            return;
          }
        }
      }
      submit(job);
    };
    send_call(std::make_shared<StoreCall>(std::move(run), std::move(looked_up)));
  }

  /// Input `i`'s key names `owner` already: the same failure again is a retry, answered with
  /// the first; another failure under that key refuses the whole request (422), so no caller
  /// believes it stored a failure that was dropped. False when the job was refused.
  static bool replay_or_refuse(IngestJob& job, std::size_t i, FailureRecord owner, bool cached) {
    if (!same_reported_failure(to_failure_record(job.inputs[i], {}, 0), owner)) {
      job.complete(job.key_reused(i));
      return false;
    }
    if (!cached) {
      // The first answer, as the cache would have given it: the stored row before any
      // recovery change an operator made since.
      owner.recovery_attempted = false;
      owner.recovery_succeeded = false;
      owner.recovered_at.reset();
      owner.recovered_by.reset();
      owner.recovery_notes.reset();
      owner.updated_at = owner.created_at;
    }
    job.set_replay(i, std::move(owner), cached);
    return true;
  }

  void submit(const IngestJobPtr& job) {
    auto matcher = directory_.next_matcher();
    if (!matcher) {
      ctx_.metrics.rejected(Metrics::RejectReason::not_ready);
      job->complete(Error::unavailable("matcher unavailable"));
      return;
    }
    caf::anon_send(matcher, ingest_atom::value, job);
  }

  void match(FailureInput input, MatchJob::Done done, MatchJob::Refused refused) {
    // Bounded like ingest, which shares the matchers: a flood of matches waits in no mailbox.
    if (auto error = admit()) {
      refused(*error);
      return;
    }
    PipelineStatus* status = &status_;
    auto job = std::make_shared<MatchJob>(std::move(input), std::move(done), std::move(refused),
                                          [status] { status->inflight.fetch_sub(1); });
    auto matcher = directory_.next_matcher();
    if (!matcher) {
      // Matching is pure: answer from this thread rather than fail.
      const auto catalog = ctx_.catalog.current();
      job->answer(
          catalog->matcher().match(job->input.error_code, job->input.error_message.value_or("")),
          *catalog);
      return;
    }
    caf::anon_send(matcher, match_atom::value, std::move(job));
  }

  void send_call(StoreCallPtr call) {
    auto gateway = directory_.gateway();
    if (!gateway) {
      call->finish(Error::unavailable("gateway unavailable"));
      return;
    }
    caf::anon_send(gateway, call_atom::value, std::move(call));
  }

  void recover(RecoveryJobPtr job) {
    auto gateway = directory_.gateway();
    if (!gateway) {
      job->refuse(Error::unavailable("gateway unavailable"));
      return;
    }
    caf::anon_send(gateway, recover_atom::value, std::move(job));
  }

  void breaker(std::optional<BreakerAction> action, std::function<void(const BreakerView&)> done,
               std::function<void(const Error&)> refused) {
    auto breaker = directory_.breaker();
    if (!breaker) {
      // A report needs no breaker; an action does.
      if (action) {
        refused(Error::unavailable("breaker restarting"));
      } else {
        done(status_.breaker_view());
      }
      return;
    }
    auto command = std::make_shared<BreakerCommand>();
    command->action = action;
    command->done = std::move(done);
    command->refused = std::move(refused);
    caf::anon_send(breaker, breaker_atom::value, std::move(command));
  }

  Readiness readiness() const {
    Readiness r;
    if (status_.shutting_down) return {false, false, "shutting down"};
    const bool wal = ctx_.options.durability == PipelineDurability::wal;
    if (wal && (status_.wal_failed || !status_.persister_ready)) {
      return {false, false, "write-ahead log unavailable"};
    }
    if (wal && status_.wal_full) return {false, false, "write-ahead log full"};
    if (status_.breaker_state.load() == 1) {
      return {true, true,
              wal ? "degraded: database circuit open; ingest continues into the write-ahead log"
                  : "degraded: database circuit open; failures are being dropped"};
    }
    const auto store_error = status_.store_error();
    // The store's own words stay in the log: this answer is public, and they can name the
    // database's role, host and name.
    if (!store_error.empty()) return {true, true, "degraded: database errors (see the log)"};
    return r;
  }

  bool crash_actor_for_test(const std::string& name) {
    caf::actor target;
    if (name == "persister") target = caf::actor_cast<caf::actor>(directory_.persister());
    if (name == "breaker") target = caf::actor_cast<caf::actor>(directory_.breaker());
    if (name == "gateway") target = caf::actor_cast<caf::actor>(directory_.gateway());
    if (name == "aggregator") target = caf::actor_cast<caf::actor>(directory_.aggregator());
    if (name == "matcher") target = caf::actor_cast<caf::actor>(directory_.next_matcher());
    if (name == "storage") target = caf::actor_cast<caf::actor>(directory_.next_storage());
    if (!target) return false;
    caf::anon_send_exit(target, caf::exit_reason::kill);
    return true;
  }

  PipelineStatus status_;
  IdempotencyCache idempotency_;
  Directory directory_;
  LiveStoreOptions store_options_;
  LiveSecret webhook_secret_;
  PipelineContext ctx_;
  std::unique_ptr<caf::actor_system_config> config_;
  std::unique_ptr<caf::actor_system> system_;
  caf::actor supervisor_;
};

FailureService::FailureService(const PipelineOptions& options, Metrics& metrics,
                               CatalogHolder& catalog, const Clock& clock)
    : impl_(std::make_unique<Impl>(options, metrics, catalog, clock)) {}

FailureService::~FailureService() {
  if (impl_->system_) impl_->stop(impl_->ctx_.clock.steady());
}

Status FailureService::start() {
  return impl_->start();
}
std::uint64_t FailureService::stop(Micros deadline) {
  return impl_->stop(deadline);
}
void FailureService::begin_shutdown() {
  impl_->status_.shutting_down = true;
}

void FailureService::ingest(std::vector<FailureInput> inputs,
                            std::vector<std::optional<std::string>> keys, IngestJob::Callback done,
                            IngestJob::Prepare prepare) {
  impl_->ingest(std::move(inputs), std::move(keys), std::move(done), std::move(prepare));
}

void FailureService::match(FailureInput input, MatchJob::Done done, MatchJob::Refused refused) {
  impl_->match(std::move(input), std::move(done), std::move(refused));
}

void FailureService::call_store(std::function<void(FailureStore&)> run,
                                std::function<void(Status)> done) {
  auto call = std::make_shared<StoreCall>(std::move(run), std::move(done));
  impl_->send_call(std::move(call));
}

void FailureService::run_detached(std::function<void()> work) {
  if (!impl_->system_) {
    work();
    return;
  }
  impl_->system_->spawn([work = std::move(work)](caf::blocking_actor*) {
    try {
      work();
    } catch (const std::exception& e) {
      log_event(LogLevel::error, "background work failed", {{"error", e.what()}});
    }
  });
}

void FailureService::recover(RecoveryJobPtr job) {
  impl_->recover(std::move(job));
}

void FailureService::breaker(std::optional<BreakerAction> action,
                             std::function<void(const BreakerView&)> done,
                             std::function<void(const Error&)> refused) {
  if (!refused) {
    refused = [done, this](const Error&) { done(impl_->status_.breaker_view()); };
  }
  impl_->breaker(action, std::move(done), std::move(refused));
}

Readiness FailureService::readiness() const {
  return impl_->readiness();
}
const PipelineStatus& FailureService::status() const {
  return impl_->status_;
}
void FailureService::update_store_options(StoreOptions options) {
  impl_->store_options_.replace(std::move(options));
}
void FailureService::update_webhook_secret(std::string secret) {
  impl_->webhook_secret_.replace(std::move(secret));
}
bool FailureService::crash_actor_for_test(const std::string& name) {
  return impl_->crash_actor_for_test(name);
}

}  // namespace failcat
