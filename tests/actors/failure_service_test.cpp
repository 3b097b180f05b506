// The actor pipeline end to end, in process: ingest, durability, breaker, supervision,
// backpressure and shutdown. Timings are short real ones (breaker reset 300 ms); no test
// asserts on how fast anything is.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "config/logging.hpp"
#include "core/failure_codec.hpp"
#include "core/uuid.hpp"
#include "storage/wal.hpp"
#include "tests/actors/pipeline_fixture.hpp"

namespace failcat {
namespace {

using testing::eventually;
using testing::input;
using testing::PipelineFixture;
using testing::Waiter;

/// The service's log, opened by the test itself (as a previous process left or holds it).
Result<std::unique_ptr<Wal>> open_service_log(PipelineFixture& f) {
  WalOptions o;
  o.dir = f.options().wal_dir;
  return Wal::open(o);
}

/// A failure as the log holds it, of the default tenant, now.
FailureRecord logged_failure(const std::string& id, const std::string& run_id) {
  FailureRecord r;
  r.id = id;
  r.run_id = run_id;
  r.tenant_id = std::string(kDefaultTenant);
  r.error_code = "RATE_LIMITED";
  r.created_at = r.updated_at = SystemClock().now();
  return r;
}

std::int64_t stored_count(PipelineFixture& f) {
  auto store = f.open_store();
  auto page = store->list(TenantScope::all(), ListQuery{});
  return page ? page->total : -1;
}

/// `failcat_wal_unpersisted_bytes` as the service last published it.
/// The value of one exported series (`name` or `name{labels}`), or -1 when absent.
double metric_value(PipelineFixture& f, const std::string& series) {
  const std::string text = "\n" + f.metrics().serialize();
  const std::string key = "\n" + series + " ";
  const auto at = text.find(key);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + key.size()));
}

double unpersisted_bytes(PipelineFixture& f) {
  return metric_value(f, "failcat_wal_unpersisted_bytes");
}

/// Ingests one failure in each of `count` runs and returns how many were answered.
std::size_t ingest_runs(FailureService& service, Waiter& w, int count) {
  for (int i = 0; i < count; ++i) {
    service.ingest({input("run-" + std::to_string(i), "TOOL_TIMEOUT_SEARCH")}, {}, w.callback());
  }
  return w.wait_for(static_cast<std::size_t>(count));
}

std::set<std::string> acknowledged_ids(Waiter& w) {
  std::set<std::string> ids;
  for (const auto& r : w.results()) {
    if (!r) continue;
    for (const auto& rec : r->records) ids.insert(rec.id);
  }
  return ids;
}

void expect_all_stored(PipelineFixture& f, const std::set<std::string>& ids) {
  auto store = f.open_store();
  for (const auto& id : ids) {
    auto got = store->get(TenantScope::all(), id);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_TRUE(got->has_value()) << "acknowledged failure " << id << " is not stored";
  }
  EXPECT_EQ(stored_count(f), static_cast<std::int64_t>(ids.size()));
}

/// The names of this process's threads, as `top -H` and `ps -L` show them.
std::multiset<std::string> thread_names() {
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.insert(name);
  }
  return names;
}

TEST(FailureService, ItsThreadsCarryNamesOperatorsCanTellApart) {
  PipelineFixture f;
  f.start();
  // Each detached actor names its own thread when it starts.
  ASSERT_TRUE(eventually([&] {
    const auto names = thread_names();
    // Two WAL syncers: a group may go to the disk beside a slow one.
    return names.count("fc-persister") == 1 && names.count("fc-wal-sync") == 2 &&
           names.count("fc-wal-checkpt") == 1 &&
           names.count("fc-storage") == static_cast<std::size_t>(f.options().storage_actors);
  }));
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, IngestMatchesPersistsAndAcknowledges) {
  PipelineFixture f;
  auto& service = f.start();
  Waiter w;
  service.ingest({input("run-1", "RATE_LIMITED", "429"), input("run-1", "NOPE_NOT_KNOWN", "??")},
                 {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  auto result = w.results().front();
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result->records.size(), 2u);
  EXPECT_EQ(result->records[0].match_type, "exact");
  EXPECT_EQ(result->records[0].catalog_entry_id, "llm_rate_limit");
  EXPECT_EQ(result->records[1].match_type, "miss");
  EXPECT_EQ(result->records[0].tenant_id, "00000000-0000-0000-0000-000000000000");
  EXPECT_FALSE(result->details[0].catalog_version.empty());
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 2; }));
  const auto text = f.metrics().serialize();
  EXPECT_NE(text.find("failure_match_hits_total{match_type=\"exact\"} 1"), std::string::npos);
  EXPECT_NE(text.find("failure_match_misses_total 1"), std::string::npos);
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, PrepareSeesTheMatchedOutcomeBeforeTheAnswer) {
  PipelineFixture f;
  auto& service = f.start();
  std::mutex mutex;
  std::vector<std::string> prepared_ids;
  std::vector<std::string> prepared_types;
  bool answered_before_prepare = false;
  std::atomic<bool> answered{false};
  Waiter w;
  auto done = w.callback();
  service.ingest(
      {input("run-1", "RATE_LIMITED"), input("run-1", "NOPE_NOT_KNOWN", "??")}, {},
      [&answered, done](const Result<IngestOutcome>& outcome) {
        answered = true;
        done(outcome);
      },
      [&](const IngestOutcome& outcome) {
        std::lock_guard<std::mutex> lock(mutex);
        answered_before_prepare = answered.load();
        for (const auto& r : outcome.records) {
          prepared_ids.push_back(r.id);
          prepared_types.push_back(r.match_type.value_or(""));
        }
      });
  ASSERT_EQ(w.wait_for(1), 1u);
  auto result = w.results().front();
  ASSERT_TRUE(result.ok()) << result.error().message;
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_FALSE(answered_before_prepare);
  ASSERT_EQ(prepared_ids.size(), 2u);
  EXPECT_EQ(prepared_ids[0], result->records[0].id);
  EXPECT_EQ(prepared_ids[1], result->records[1].id);
  EXPECT_EQ(prepared_types, (std::vector<std::string>{"exact", "miss"}));
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, IdempotencyKeyReturnsTheFirstAnswer) {
  PipelineFixture f;
  auto& service = f.start();
  Waiter first;
  service.ingest({input("run-1", "RATE_LIMITED")}, {std::string("evt-1")}, first.callback());
  ASSERT_EQ(first.wait_for(1), 1u);
  const auto id = first.results()[0]->records[0].id;
  Waiter again;
  service.ingest({input("run-1", "RATE_LIMITED")}, {std::string("evt-1")}, again.callback());
  ASSERT_EQ(again.wait_for(1), 1u);
  ASSERT_TRUE(again.results()[0].ok());
  EXPECT_EQ(again.results()[0]->records[0].id, id);
  EXPECT_TRUE(again.results()[0]->replayed[0]);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 1; }));
  f.stop();

  // After a restart the key is answered from the database.
  auto& restarted = f.start();
  Waiter later;
  restarted.ingest({input("run-1", "RATE_LIMITED")}, {std::string("evt-1")}, later.callback());
  ASSERT_EQ(later.wait_for(1), 1u);
  ASSERT_TRUE(later.results()[0].ok());
  EXPECT_EQ(later.results()[0]->records[0].id, id);
  EXPECT_EQ(stored_count(f), 1);
}

// A key names one failure. Another failure under it is refused (422), whether the first is
// found in the cache, in the database after a restart, or is still in flight beside it; so no
// caller is told a failure was accepted that was silently dropped.
TEST(FailureService, AKeyReusedForAnotherFailureIsRefused) {
  PipelineFixture f;
  auto& service = f.start();
  Waiter first;
  service.ingest({input("run-1", "RATE_LIMITED")}, {std::string("evt-1")}, first.callback());
  ASSERT_EQ(first.wait_for(1), 1u);
  ASSERT_TRUE(first.results()[0].ok());
  const auto expect_refused = [](Waiter& w) {
    ASSERT_EQ(w.wait_for(1), 1u);
    ASSERT_FALSE(w.results()[0].ok());
    EXPECT_EQ(w.results()[0].error().kind, ErrorKind::key_reused);
    EXPECT_EQ(w.results()[0].error().field, "Idempotency-Key");
  };
  Waiter cached;
  service.ingest({input("run-1", "OTHER_CODE")}, {std::string("evt-1")}, cached.callback());
  expect_refused(cached);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 1; }));
  f.stop();

  auto& restarted = f.start();  // the key is only in the database now
  Waiter stored;
  restarted.ingest({input("run-1", "RATE_LIMITED", "another message")}, {std::string("evt-1")},
                   stored.callback());
  expect_refused(stored);

  // Two requests with one key at once: one is stored, the other refused, never both.
  Waiter a;
  Waiter b;
  restarted.ingest({input("run-2", "RATE_LIMITED")}, {std::string("evt-2")}, a.callback());
  restarted.ingest({input("run-2", "OTHER_CODE")}, {std::string("evt-2")}, b.callback());
  ASSERT_EQ(a.wait_for(1), 1u);
  ASSERT_EQ(b.wait_for(1), 1u);
  EXPECT_NE(a.results()[0].ok(), b.results()[0].ok());
  const auto refused = a.results()[0].ok() ? b.results()[0] : a.results()[0];
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::key_reused);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 2; }));
  EXPECT_EQ(f.stop(), 0u);
  EXPECT_EQ(stored_count(f), 2);
}

TEST(FailureService, BreakerOpensOnFailingStoreAndBacklogDrainsAfterRecovery) {
  PipelineFixture f;
  f.options().batch_age = 1'000;
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter w;
  constexpr int kCount = 200;
  ASSERT_EQ(ingest_runs(service, w, kCount), static_cast<std::size_t>(kCount));
  for (const auto& r : w.results()) ASSERT_TRUE(r.ok()) << r.error().message;
  // Ingest went on while the store failed; the breaker opened.
  ASSERT_TRUE(eventually([&] { return service.status().breaker_state.load() == 1; }));
  EXPECT_EQ(service.readiness().accepting, true);
  EXPECT_TRUE(service.readiness().degraded);
  EXPECT_GT(service.status().wal_backlog_rows.load(), 0u);
  EXPECT_EQ(stored_count(f), 0);

  f.store().fail_inserts = false;
  ASSERT_TRUE(eventually([&] { return stored_count(f) == kCount; }))
      << "stored " << stored_count(f);
  EXPECT_TRUE(eventually([&] { return service.status().breaker_state.load() == 0; }));
  expect_all_stored(f, acknowledged_ids(w));
  const auto text = f.metrics().serialize();
  EXPECT_NE(text.find("failcat_breaker_transitions_total{from=\"closed\",to=\"open\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(f.stop(), 0u);
}

// A row the database refuses as data (a value it cannot hold) must not hold back the rows
// batched with it, nor open the breaker and stop storage for everyone: the others are stored,
// the refused rows kept durably in the rejected-rows file, logged and counted.
TEST(FailureService, RowsTheDatabaseRefusesAreSetAsideAndTheRestStored) {
  PipelineFixture f;
  f.options().batch_age = 20'000;
  auto& service = f.start();
  f.store().refuse_poison = true;
  Waiter w;
  constexpr int kCount = 60;
  std::set<std::string> poison_runs;
  for (int i = 0; i < kCount; ++i) {
    const bool poison = i % 20 == 7;
    const std::string run = "run-" + std::to_string(i);
    if (poison) poison_runs.insert(run);
    service.ingest({input(run, poison ? "POISON" : "TOOL_TIMEOUT_SEARCH")}, {}, w.callback());
  }
  ASSERT_EQ(w.wait_for(kCount), static_cast<std::size_t>(kCount));
  std::set<std::string> poison_ids;
  std::set<std::string> good_ids;
  for (const auto& r : w.results()) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    const auto& rec = r->records.at(0);
    (poison_runs.count(rec.run_id) ? poison_ids : good_ids).insert(rec.id);
  }
  ASSERT_EQ(poison_ids.size(), 3u);
  ASSERT_TRUE(eventually([&] { return service.status().wal_backlog_rows.load() == 0; }));
  expect_all_stored(f, good_ids);
  EXPECT_EQ(service.status().breaker_state.load(), 0);
  EXPECT_FALSE(service.readiness().degraded) << service.readiness().detail;

  std::ifstream file(f.dir() + "/wal/rejected-rows.ndjson");
  ASSERT_TRUE(file.good());
  std::set<std::string> kept;
  for (std::string line; std::getline(file, line);) {
    const auto row = nlohmann::json::parse(line);
    kept.insert(row.at("id").get<std::string>());
    EXPECT_EQ(row.at("error_code"), "POISON");
    EXPECT_NE(row.at("rejected_reason").get<std::string>().find("value too long"),
              std::string::npos);
    EXPECT_TRUE(row.contains("rejected_at"));
  }
  EXPECT_EQ(kept, poison_ids);
  const auto text = f.metrics().serialize();
  EXPECT_NE(text.find("\nfailcat_persist_rejected_rows_total 3\n"), std::string::npos) << text;
  // Rows set aside are not rows written to the database.
  EXPECT_EQ(metric_value(f, "failcat_persisted_rows_total"), static_cast<double>(good_ids.size()));
  EXPECT_EQ(text.find("failcat_breaker_transitions_total{from=\"closed\",to=\"open\"} 1"),
            std::string::npos);
  EXPECT_EQ(f.stop(), 0u);
}

/// The lines of the rejected-rows file, by id (each id once per line).
std::multiset<std::string> set_aside_lines(PipelineFixture& f) {
  std::multiset<std::string> ids;
  std::ifstream file(f.dir() + "/wal/rejected-rows.ndjson");
  for (std::string line; std::getline(file, line);) {
    ids.insert(nlohmann::json::parse(line).at("id").get<std::string>());
  }
  return ids;
}

std::vector<FailureInput> inputs_with_poison(int count, const std::set<int>& poison) {
  std::vector<FailureInput> in;
  for (int i = 0; i < count; ++i) {
    in.push_back(input("run-" + std::to_string(i), poison.count(i) ? "POISON" : "RATE_LIMITED"));
  }
  return in;
}

// Splitting a refused batch is bounded by half the persist timeout: past it the pass stops,
// the batch goes again at once, and the next pass skips what was settled. So a slow database
// never times the batch out (the breaker stays closed) and no row is set aside twice.
TEST(FailureService, SplittingARefusedBatchStaysWithinThePersistTimeout) {
  PipelineFixture f;
  f.options().persist_timeout = 200'000;
  f.options().batch_age = 20'000;
  auto& service = f.start();
  f.store().refuse_poison = true;
  f.store().stall_ms = 15;  // each try: 15 % of the budget of 100 ms
  Waiter w;
  service.ingest(inputs_with_poison(40, {3, 31}), {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  ASSERT_TRUE(w.results()[0].ok()) << w.results()[0].error().message;
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 38 && set_aside_lines(f).size() == 2; },
                         std::chrono::seconds(30)))
      << stored_count(f) << " stored";
  ASSERT_TRUE(eventually([&] { return service.status().wal_backlog_rows.load() == 0; }));
  f.store().stall_ms = 0;
  const auto answered = w.results();
  std::multiset<std::string> poison_ids;
  for (const auto& r : answered.at(0)->records) {
    if (r.error_code == "POISON") poison_ids.insert(r.id);
  }
  EXPECT_EQ(set_aside_lines(f), poison_ids);
  const auto text = f.metrics().serialize();
  EXPECT_NE(text.find("\nfailcat_persist_rejected_rows_total 2\n"), std::string::npos);
  EXPECT_EQ(text.find("to=\"open\"} 1"), std::string::npos) << "the breaker opened";
  EXPECT_EQ(f.stop(), 0u);
}

// When the database refuses most of a batch the fault is the database's (a column altered by
// hand, a faulty deploy): the rows stay in the log and the breaker opens, as for an outage.
TEST(FailureService, ABatchTheDatabaseMostlyRefusesStaysInTheLog) {
  PipelineFixture f;
  f.options().batch_age = 20'000;
  auto& service = f.start();
  f.store().refuse_poison = true;
  Waiter w;
  std::set<int> all;
  for (int i = 0; i < 20; ++i) all.insert(i);
  service.ingest(inputs_with_poison(20, all), {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  ASSERT_TRUE(w.results()[0].ok());
  ASSERT_TRUE(eventually([&] { return service.status().breaker_state.load() == 1; }));
  EXPECT_TRUE(set_aside_lines(f).empty());
  EXPECT_EQ(service.status().wal_backlog_rows.load(), 20u);
  f.store().refuse_poison = false;  // the schema is fixed
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 20; }, std::chrono::seconds(20)));
  EXPECT_EQ(f.stop(), 0u);
}

// A failure set aside is in no table: a retry of its key must not be answered with it.
TEST(FailureService, ARetryOfASetAsideFailuresKeyIsNotAReplay) {
  PipelineFixture f;
  f.options().batch_age = 1'000;
  auto& service = f.start();
  f.store().refuse_poison = true;
  Waiter first;
  service.ingest({input("run-1", "POISON")}, {std::string("evt-p")}, first.callback());
  ASSERT_EQ(first.wait_for(1), 1u);
  ASSERT_TRUE(first.results()[0].ok());
  ASSERT_TRUE(eventually([&] { return set_aside_lines(f).size() == 1; }));
  f.store().refuse_poison = false;
  Waiter again;
  service.ingest({input("run-1", "POISON")}, {std::string("evt-p")}, again.callback());
  ASSERT_EQ(again.wait_for(1), 1u);
  ASSERT_TRUE(again.results()[0].ok());
  EXPECT_FALSE(again.results()[0]->replayed[0]);
  const auto id = again.results()[0]->records[0].id;
  EXPECT_NE(id, first.results()[0]->records[0].id);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 1; }));
  auto store = f.open_store();
  EXPECT_TRUE(store->get(TenantScope::all(), id)->has_value());
  EXPECT_EQ(f.stop(), 0u);
}

// Memory durability keeps nothing the database does not take: when the refused rows cannot
// be set aside they are dropped and counted, and only they (the rest of the batch is stored).
TEST(FailureService, MemoryModeCountsOnlyTheRefusedRowsAsDropped) {
  PipelineFixture f;
  f.options().durability = PipelineDurability::memory;
  f.options().batch_age = 20'000;
  std::ofstream(f.dir() + "/not-a-directory") << "x";
  f.options().wal_dir = f.dir() + "/not-a-directory/wal";  // the file cannot be written
  auto& service = f.start();
  f.store().refuse_poison = true;
  Waiter w;
  service.ingest(inputs_with_poison(12, {4}), {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  ASSERT_TRUE(w.results()[0].ok());
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 11; }));
  ASSERT_TRUE(eventually([&] {
    return f.metrics().serialize().find("failure_persist_dropped_total{reason=\"error\"} 1\n") !=
           std::string::npos;
  })) << f.metrics().serialize();
  f.stop(200'000);
}

TEST(FailureService, MemoryModeForgetsTheKeysOfTheFailuresItDrops) {
  PipelineFixture f;
  f.options().durability = PipelineDurability::memory;
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter first;
  service.ingest({input("run-m", "RATE_LIMITED")}, {std::string("mem-key")}, first.callback());
  ASSERT_EQ(first.wait_for(1), 1u);
  ASSERT_TRUE(first.results()[0].ok());
  // The database refuses the batch: memory mode drops the failure, and counts it.
  ASSERT_TRUE(eventually([&] {
    return f.metrics().serialize().find("failure_persist_dropped_total{reason=\"error\"} 1\n") !=
           std::string::npos;
  }));
  f.store().fail_inserts = false;
  // A retry is a new failure, stored — not a replay of the dropped one.
  Waiter retry;
  service.ingest({input("run-m", "RATE_LIMITED")}, {std::string("mem-key")}, retry.callback());
  ASSERT_EQ(retry.wait_for(1), 1u);
  ASSERT_TRUE(retry.results()[0].ok());
  EXPECT_FALSE(retry.results()[0]->replayed[0]);
  EXPECT_NE(retry.results()[0]->records[0].id, first.results()[0]->records[0].id);
  const std::string id = retry.results()[0]->records[0].id;
  EXPECT_TRUE(eventually([&] {
    auto got = f.open_store()->get(TenantScope::all(), id);
    return got.ok() && got->has_value();
  }));
  f.stop();
}

// The readiness answer is public: it says the database fails, never the database's words (they
// can name the role, host and database).
TEST(FailureService, ReadinessDoesNotRepeatTheStoresError) {
  PipelineFixture f;
  f.options().batch_age = 1'000;
  f.options().breaker_threshold = 1'000;
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter w;
  ASSERT_EQ(ingest_runs(service, w, 5), 5u);
  ASSERT_TRUE(eventually([&] { return service.readiness().degraded; }));
  EXPECT_EQ(service.readiness().detail.find("injected failure"), std::string::npos)
      << service.readiness().detail;
  EXPECT_NE(service.readiness().detail.find("database"), std::string::npos);
  f.store().fail_inserts = false;
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, AnOpenBreakerIsProbedWithOneBatchOfTheConfiguredSize) {
  PipelineFixture f;
  f.options().batch_rows = 10;
  f.options().batch_age = 1'000;
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter w;
  constexpr int kCount = 400;
  ASSERT_EQ(ingest_runs(service, w, kCount), static_cast<std::size_t>(kCount));
  ASSERT_TRUE(eventually([&] { return service.status().breaker_state.load() == 1; }));
  // Every batch that reaches the store from now on is a half-open probe: the backlog is not
  // read in backlog-sized batches only to be refused.
  const std::size_t before = f.store().insert_sizes().size();
  ASSERT_TRUE(eventually([&] { return f.store().insert_sizes().size() >= before + 2; }));
  const auto sizes = f.store().insert_sizes();
  for (std::size_t i = before; i < sizes.size(); ++i) EXPECT_LE(sizes[i], 10u) << "insert " << i;

  f.store().fail_inserts = false;
  ASSERT_TRUE(eventually([&] { return stored_count(f) == kCount; }));
  expect_all_stored(f, acknowledged_ids(w));
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, TimedOutPersistsCountAsFailures) {
  PipelineFixture f;
  f.options().persist_timeout = 100'000;
  f.options().breaker_reset = 5 * kMicrosPerSecond;
  auto& service = f.start();
  f.store().stall_ms = 400;
  Waiter w;
  for (int i = 0; i < 20; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(20), 20u);
  for (const auto& r : w.results()) ASSERT_TRUE(r.ok());
  ASSERT_TRUE(eventually([&] { return service.status().breaker_state.load() == 1; }));
  f.store().stall_ms = 0;
  f.stop(500'000);
}

TEST(FailureService, MemoryModeDropsAndCountsWhatTheStoreRefuses) {
  PipelineFixture f;
  f.options().durability = PipelineDurability::memory;
  f.options().breaker_reset = 60 * kMicrosPerSecond;
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter w;
  for (int i = 0; i < 50; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(50), 50u);
  ASSERT_TRUE(eventually([&] {
    const auto text = f.metrics().serialize();
    auto sum = 0.0;
    for (const char* reason : {"breaker_open", "error", "timeout"}) {
      const std::string key =
          std::string("failure_persist_dropped_total{reason=\"") + reason + "\"} ";
      const auto pos = text.find(key);
      if (pos != std::string::npos) sum += std::stod(text.substr(pos + key.size()));
    }
    return sum == 50.0;
  }));
  EXPECT_EQ(stored_count(f), 0);
  f.stop(200'000);
}

TEST(FailureService, WalBacklogSurvivesARestart) {
  PipelineFixture f;
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter w;
  for (int i = 0; i < 100; ++i) service.ingest({input("run", "SANDBOX_DENIED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(100), 100u);
  const auto left = f.stop(200'000);
  EXPECT_EQ(left, 100u);
  EXPECT_EQ(stored_count(f), 0);

  f.store().fail_inserts = false;
  f.start();
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 100; }));
  expect_all_stored(f, acknowledged_ids(w));
}

TEST(FailureService, RowsLostToADamagedLogSegmentAreCountedAsDropped) {
  PipelineFixture f;
  f.options().wal_segment_bytes = 1024;  // the backlog spans several segments
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter w;
  for (int group = 1; group <= 20; ++group) {  // one group at a time: a segment closes between
    for (int i = 0; i < 5; ++i) service.ingest({input("run", "SANDBOX_DENIED")}, {}, w.callback());
    ASSERT_EQ(w.wait_for(5u * group), 5u * group);
  }
  ASSERT_EQ(f.stop(200'000), 100u);

  std::vector<std::filesystem::path> segments;
  for (const auto& e : std::filesystem::directory_iterator(f.options().wal_dir)) {
    if (e.path().filename().string().rfind("wal-", 0) == 0) segments.push_back(e.path());
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_GE(segments.size(), 3u);
  {
    // One flipped bit in an older segment: the frames from there to its end are lost.
    std::fstream seg(segments[1], std::ios::in | std::ios::out | std::ios::binary);
    seg.seekg(64);
    char byte = 0;
    seg.get(byte);
    seg.seekp(64);
    seg.put(static_cast<char>(byte ^ 1));
  }

  const std::string dropped = "failure_persist_dropped_total{reason=\"wal_error\"}";
  // Two starts while the database is still away: each finds the damage, the first counts it
  // (each process exports its own counters, so a second count would add to the first in
  // increase() across the restart).
  f.start();
  ASSERT_TRUE(eventually([&] { return metric_value(f, dropped) > 0; }));
  const double lost = metric_value(f, dropped);
  f.stop(200'000);
  f.start();
  ASSERT_TRUE(eventually([&] { return metric_value(f, "failcat_wal_backlog_rows") > 0; }));
  EXPECT_EQ(metric_value(f, dropped), 0);
  f.stop(200'000);
  std::ifstream record(f.options().wal_dir + "/lost-records.ndjson");
  std::string line;
  ASSERT_TRUE(std::getline(record, line));
  EXPECT_EQ(nlohmann::json::parse(line).at("lost_rows"), lost);
  EXPECT_FALSE(std::getline(record, line));

  // Every acknowledged failure is either stored or counted lost.
  f.store().fail_inserts = false;
  f.start();
  EXPECT_TRUE(eventually([&] {
    return metric_value(f, "failcat_wal_backlog_rows") == 0 &&
           static_cast<double>(stored_count(f)) + lost == 100;
  })) << stored_count(f)
      << " stored, " << lost << " counted lost";
  EXPECT_GT(stored_count(f), 0);
  EXPECT_GT(lost, 0);  // the damage cost rows
  EXPECT_EQ(f.stop(), 0u);
}

// A migration that cannot run now (a lock another node holds: each attempt may wait seconds)
// is not tried again by every batch and every read: a storage actor waits a few seconds
// before its next attempt and answers the same error meanwhile.
TEST(FailureService, AFailedMigrationIsNotRetriedByEveryCall) {
  PipelineFixture f;
  f.store().fail_migrations = true;
  auto& service = f.start();
  Waiter w;
  for (int i = 0; i < 20; ++i) {
    service.ingest({input("run-" + std::to_string(i), "RATE_LIMITED")}, {}, w.callback());
    ASSERT_EQ(w.wait_for(static_cast<std::size_t>(i + 1)), static_cast<std::size_t>(i + 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Twenty groups over a second, each batch refused: one attempt per storage actor (and one
  // by the periodic jobs' first run).
  EXPECT_LE(f.store().migrations.load(), f.options().storage_actors + 1);
  EXPECT_EQ(stored_count(f), 0);
  f.store().fail_migrations = false;
  EXPECT_TRUE(eventually([&] { return stored_count(f) == 20; }, std::chrono::seconds(20)));
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, CrashedPersisterIsRestartedAndNothingAcknowledgedIsLost) {
  PipelineFixture f;
  auto& service = f.start();
  // Acknowledged failures that are only in the WAL when the persister dies.
  f.store().fail_inserts = true;
  Waiter before;
  for (int i = 0; i < 150; ++i) {
    service.ingest({input("run-" + std::to_string(i), "RATE_LIMITED")}, {}, before.callback());
  }
  ASSERT_EQ(before.wait_for(150), 150u);
  for (const auto& r : before.results()) ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(service.crash_actor_for_test("persister"));
  f.store().fail_inserts = false;

  // The supervisor restarts it; the new persister replays the WAL and service continues.
  Waiter after;
  ASSERT_TRUE(eventually([&] {
    Waiter probe;
    service.ingest({input("after", "RATE_LIMITED")}, {}, probe.callback());
    probe.wait_for(1);
    if (!probe.results()[0].ok()) return false;
    after.callback()(probe.results()[0]);
    return true;
  }));
  auto ids = acknowledged_ids(before);
  for (const auto& id : acknowledged_ids(after)) ids.insert(id);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == static_cast<std::int64_t>(ids.size()); }))
      << stored_count(f) << " of " << ids.size();
  expect_all_stored(f, ids);
  EXPECT_NE(f.metrics().serialize().find("failcat_actor_restarts_total{actor=\"persister\"} 1"),
            std::string::npos)
      << f.metrics().serialize();
}

TEST(FailureService, AnUndecodableLogRecordIsSetAsideBeforeTheLogGoesPastIt) {
  PipelineFixture f;
  {
    // A record this build cannot read (a newer build's, before a rollback): its CRC holds.
    auto wal = open_service_log(f);
    ASSERT_TRUE(wal.ok()) << wal.error().message;
    ASSERT_TRUE((*wal)->append(std::string("\x07not a record", 13)).ok());
    ASSERT_TRUE((*wal)->sync().ok());
  }
  auto& service = f.start();
  Waiter w;
  service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 1; }));
  const std::string file = f.options().wal_dir + "/undecodable-records.ndjson";
  std::ifstream in(file);
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << file;
  const auto kept = nlohmann::json::parse(line);
  EXPECT_EQ(kept["lsn"], 1);
  EXPECT_EQ(kept["payload_hex"], "076e6f742061207265636f7264");
  EXPECT_FALSE(std::getline(in, line));  // once
  EXPECT_NE(f.metrics().serialize().find("failure_persist_dropped_total{reason=\"wal_error\"} 1"),
            std::string::npos);
  EXPECT_EQ(f.stop(), 0u);
}

// A log another process still holds (a rolling restart: the old server is in its shutdown
// grace) is opened once it is free: ingest is refused meanwhile, then accepted, and what the
// log held is stored, without a restart.
TEST(FailureService, ALogThatCannotBeOpenedYetIsOpenedOnceFree) {
  PipelineFixture f;
  auto holder = open_service_log(f);
  ASSERT_TRUE(holder.ok()) << holder.error().message;
  const FailureRecord left =
      logged_failure("0190a0a0-0000-7000-8000-000000000001", "left-by-the-old-server");
  ASSERT_TRUE((*holder)->append(encode_failure(left)).ok());
  ASSERT_TRUE((*holder)->sync().ok());

  auto& service = f.start();
  EXPECT_FALSE(service.readiness().accepting);
  EXPECT_EQ(service.readiness().detail, "write-ahead log unavailable");
  Waiter refused;
  service.ingest({input("run", "RATE_LIMITED")}, {}, refused.callback());
  ASSERT_EQ(refused.wait_for(1), 1u);
  EXPECT_FALSE(refused.results()[0].ok());

  holder->reset();  // the old server exits
  ASSERT_TRUE(eventually([&] { return service.readiness().accepting; }))
      << service.readiness().detail;
  Waiter accepted;
  service.ingest({input("run", "RATE_LIMITED")}, {}, accepted.callback());
  ASSERT_EQ(accepted.wait_for(1), 1u);
  ASSERT_TRUE(accepted.results()[0].ok()) << accepted.results()[0].error().message;
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 2; })) << stored_count(f);
  EXPECT_TRUE(f.open_store()->get(TenantScope::all(), left.id)->has_value());
  EXPECT_EQ(f.stop(), 0u);
}

// A record the drain cannot get past yet (here one that cannot be set aside until its file
// can be written) holds the drain only until it can: the rows behind it are stored without
// any new ingest to wake the persister.
TEST(FailureService, ADrainHeldByTheLogResumesWithoutNewIngest) {
  PipelineFixture f;
  const FailureRecord behind = logged_failure("0190a0a0-0000-7000-8000-000000000002", "behind");
  {
    auto wal = open_service_log(f);
    ASSERT_TRUE(wal.ok()) << wal.error().message;
    ASSERT_TRUE((*wal)->append(std::string("\x07not a record", 13)).ok());
    ASSERT_TRUE((*wal)->append(encode_failure(behind)).ok());
    ASSERT_TRUE((*wal)->sync().ok());
  }
  // A directory where the set-aside file goes: appending to it fails.
  const std::string aside = f.options().wal_dir + "/undecodable-records.ndjson";
  ASSERT_TRUE(std::filesystem::create_directory(aside));
  f.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(stored_count(f), 0);
  std::filesystem::remove(aside);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 1; })) << stored_count(f);
  EXPECT_TRUE(f.open_store()->get(TenantScope::all(), behind.id)->has_value());
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, CrashedStorageActorIsReplaced) {
  PipelineFixture f;
  auto& service = f.start();
  ASSERT_TRUE(service.crash_actor_for_test("storage"));
  Waiter w;
  for (int i = 0; i < 50; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(50), 50u);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 50; }));
  EXPECT_NE(f.metrics().serialize().find("failcat_actor_restarts_total{actor=\"storage\"} 1"),
            std::string::npos);
}

TEST(FailureService, FullWalRefusesIngestAtOnce) {
  PipelineFixture f;
  f.options().wal_max_bytes = 1u << 20;
  auto& service = f.start();
  f.store().fail_inserts = true;
  Waiter w;
  FailureInput big = input("run", "RATE_LIMITED", std::string(9'000, 'x'));
  constexpr int kCount = 200;  // ~1.8 MB: more than the cap
  for (int i = 0; i < kCount; ++i) service.ingest({big}, {}, w.callback());
  ASSERT_EQ(w.wait_for(kCount), static_cast<std::size_t>(kCount));
  int accepted = 0;
  int overloaded = 0;
  for (const auto& r : w.results()) {
    if (r.ok()) ++accepted;
    if (!r.ok() && r.error().kind == ErrorKind::overloaded) ++overloaded;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(overloaded, 0);
  EXPECT_EQ(accepted + overloaded, kCount);
  EXPECT_FALSE(service.readiness().accepting);
  f.store().fail_inserts = false;
  ASSERT_TRUE(eventually([&] { return stored_count(f) == accepted; }));
}

/// A tmpfs of `bytes` mounted on `dir` while it lives: a disk that fills up. Mounting needs
/// CAP_SYS_ADMIN (root, as in CI); elsewhere the test that uses it is skipped.
class SmallDisk {
 public:
  SmallDisk(const std::string& dir, std::size_t bytes) : dir_(dir) {
    std::filesystem::create_directories(dir);
    const std::string size = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, size.c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string why_;
};

TEST(FailureService, AWalDiskThatFillsUpRefusesIngestAndLosesNothingAcknowledged) {
  PipelineFixture f;
  SmallDisk disk(f.options().wal_dir, 64u << 10);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a small tmpfs: " << disk.why();
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  auto& service = f.start();
  Waiter w;
  const FailureInput failure = input("run", "TOOL_TIMEOUT_SEARCH", std::string(400, 'x'));
  // One at a time, each answered before the next, until the log cannot write.
  std::size_t acknowledged = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    service.ingest({failure}, {}, w.callback());
    ASSERT_EQ(w.wait_for(i + 1), i + 1);
    if (!w.results().back().ok()) break;
    ++acknowledged;
  }
  ASSERT_GT(acknowledged, 0u);
  ASSERT_LT(acknowledged, 1000u) << "the 64 KiB disk never filled";
  EXPECT_EQ(w.results().back().error().kind, ErrorKind::unavailable);

  // The log stays failed: later failures are refused, never acknowledged.
  service.ingest({failure}, {}, w.callback());
  ASSERT_EQ(w.wait_for(acknowledged + 2), acknowledged + 2);
  ASSERT_FALSE(w.results().back().ok());
  EXPECT_EQ(w.results().back().error().kind, ErrorKind::unavailable);
  // Not ready: a load balancer takes the instance out of rotation.
  EXPECT_FALSE(service.readiness().accepting);
  EXPECT_EQ(service.readiness().detail, "write-ahead log unavailable");
  // The refusals count as such (FailcatRequestsRejected), apart from a start-up's.
  EXPECT_NE(f.metrics().serialize().find("failcat_rejected_total{reason=\"wal_failed\"} "),
            std::string::npos);
  EXPECT_EQ(f.metrics().serialize().find("failcat_rejected_total{reason=\"wal_failed\"} 0\n"),
            std::string::npos);
  EXPECT_NE(f.metrics().serialize().find("\nfailcat_wal_failed 1\n"), std::string::npos);
  // Said once, not for every refusal after it.
  flush_logs();
  const std::string logged =
      ::testing::internal::GetCapturedStdout() + ::testing::internal::GetCapturedStderr();
  std::size_t said = 0;
  for (auto at = logged.find("wal failed"); at != std::string::npos;
       at = logged.find("wal failed", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << logged;

  // Everything acknowledged before the disk filled reaches the database, and nothing else.
  const auto ids = acknowledged_ids(w);
  ASSERT_EQ(ids.size(), acknowledged);
  ASSERT_TRUE(eventually([&] { return stored_count(f) >= static_cast<std::int64_t>(ids.size()); }));
  expect_all_stored(f, ids);
  f.stop();
}

/// A disk whose first group fdatasync the test holds, and then lets succeed or fail; every
/// later one runs at once.
class HeldDisk {
 public:
  /// Holds the first `held` fdatasyncs (both syncers' with 2).
  explicit HeldDisk(int held = 1) : held_(held) {}
  /// Lets the held fdatasyncs go when it goes (declare it after the fixture, the disk before).
  struct Releaser {
    HeldDisk& disk;
    explicit Releaser(HeldDisk& d) : disk(d) {}
    ~Releaser() { disk.release(0); }
  };
  std::shared_ptr<const std::function<int(int)>> datasync() {
    return std::make_shared<const std::function<int(int)>>([this](int fd) {
      std::unique_lock<std::mutex> lock(mutex_);
      const int call = ++calls_;
      cv_.notify_all();
      if (call <= held_) {
        cv_.wait(lock, [&] { return released_; });
        if (error_ != 0) {
          errno = error_;
          return -1;
        }
      }
      lock.unlock();
      return ::fdatasync(fd);
    });
  }
  /// Waits until `n` fdatasyncs have started.
  bool started(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return calls_ >= n; });
  }
  void release(int error) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = error;
    released_ = true;
    cv_.notify_all();
  }

 private:
  const int held_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int calls_ = 0;
  bool released_ = false;
  int error_ = 0;
};

/// One failure into `first`, whose group's fsync the disk holds, then one into `second`,
/// whose group goes to the disk beside it and whose own fsync returns: unanswered meanwhile.
void ingest_two_groups(FailureService& service, HeldDisk& disk, Waiter& first, Waiter& second) {
  service.ingest({input("run-a", "RATE_LIMITED")}, {}, first.callback());
  ASSERT_TRUE(disk.started(1));
  service.ingest({input("run-b", "RATE_LIMITED")}, {}, second.callback());
  ASSERT_TRUE(disk.started(2));
  // Its frames follow the first group's in the log: no answer while that one is held.
  EXPECT_EQ(second.wait_for(1, std::chrono::milliseconds(300)), 0u);
}

TEST(FailureService, AGroupIsAnsweredOnlyOnceTheGroupBeforeItIsDurable) {
  PipelineFixture f;
  HeldDisk disk;
  f.options().wal_datasync = disk.datasync();
  auto& service = f.start();
  Waiter first;
  Waiter second;
  ASSERT_NO_FATAL_FAILURE(ingest_two_groups(service, disk, first, second));
  EXPECT_EQ(first.results().size(), 0u);

  disk.release(0);
  ASSERT_EQ(first.wait_for(1), 1u);
  ASSERT_EQ(second.wait_for(1), 1u);
  ASSERT_TRUE(first.results()[0].ok());
  ASSERT_TRUE(second.results()[0].ok());
  auto ids = acknowledged_ids(first);
  const auto more = acknowledged_ids(second);
  ids.insert(more.begin(), more.end());
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 2; }));
  expect_all_stored(f, ids);
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, ARetryIsNotAnsweredBeforeItsFirstRequestIsDurable) {
  PipelineFixture f;
  HeldDisk disk;
  f.options().wal_datasync = disk.datasync();
  auto& service = f.start();
  Waiter first;
  service.ingest({input("run-k", "RATE_LIMITED")}, {std::string("key-1")}, first.callback());
  ASSERT_TRUE(disk.started(1));
  // The retry finds the key, but the failure it names is not on the disk yet.
  Waiter retry;
  service.ingest({input("run-k", "RATE_LIMITED")}, {std::string("key-1")}, retry.callback());
  EXPECT_EQ(retry.wait_for(1, std::chrono::milliseconds(300)), 0u);
  disk.release(0);
  ASSERT_EQ(first.wait_for(1), 1u);
  ASSERT_EQ(retry.wait_for(1), 1u);
  ASSERT_TRUE(first.results()[0].ok());
  ASSERT_TRUE(retry.results()[0].ok());
  EXPECT_TRUE(retry.results()[0]->replayed[0]);
  EXPECT_EQ(retry.results()[0]->records[0].id, first.results()[0]->records[0].id);
  // Once it is durable a retry is answered at once (nothing left to wait for).
  Waiter later;
  service.ingest({input("run-k", "RATE_LIMITED")}, {std::string("key-1")}, later.callback());
  ASSERT_EQ(later.wait_for(1), 1u);
  EXPECT_TRUE(later.results()[0]->replayed[0]);
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, AKeyWhoseFailureDiedWithThePersisterIsFreeForTheRetry) {
  HeldDisk disk(2);
  PipelineFixture f;
  HeldDisk::Releaser release_on_exit(disk);  // a failed assertion must not leave them held
  f.options().wal_datasync = disk.datasync();
  auto& service = f.start();
  // Keys go straight to the matcher while the breaker isolates the database (no lookup).
  std::promise<void> opened;
  service.breaker(BreakerAction::open, [&](const BreakerView&) { opened.set_value(); });
  opened.get_future().get();
  Waiter fillers;
  service.ingest({input("run-f1", "RATE_LIMITED")}, {}, fillers.callback());
  ASSERT_TRUE(disk.started(1));
  service.ingest({input("run-f2", "RATE_LIMITED")}, {}, fillers.callback());
  ASSERT_TRUE(disk.started(2));
  // Both syncers are held: this one is appended to the group being collected, in memory
  // only, and the persister dies with it.
  const double before = unpersisted_bytes(f);
  Waiter first;
  service.ingest({input("run-k", "RATE_LIMITED")}, {std::string("key-2")}, first.callback());
  ASSERT_TRUE(eventually([&] { return unpersisted_bytes(f) > before; }));
  ASSERT_TRUE(service.crash_actor_for_test("persister"));
  ASSERT_EQ(first.wait_for(1), 1u);
  ASSERT_FALSE(first.results()[0].ok());
  EXPECT_EQ(first.results()[0].error().kind, ErrorKind::unavailable);
  disk.release(0);
  // The retry is a new failure, stored — not a replay of one nothing holds.
  Waiter retry;
  ASSERT_TRUE(eventually([&] {
    Waiter probe;
    service.ingest({input("run-k", "RATE_LIMITED")}, {std::string("key-2")}, probe.callback());
    probe.wait_for(1);
    if (!probe.results()[0].ok()) return false;
    retry.callback()(probe.results()[0]);
    return true;
  }));
  ASSERT_EQ(retry.results().size(), 1u);
  EXPECT_FALSE(retry.results()[0]->replayed[0]);
  const std::string id = retry.results()[0]->records[0].id;
  std::promise<void> released;
  service.breaker(BreakerAction::automatic, [&](const BreakerView&) { released.set_value(); });
  released.get_future().get();
  // (The fillers may be stored too: their frames were written before the crash.)
  EXPECT_TRUE(eventually([&] {
    auto got = f.open_store()->get(TenantScope::all(), id);
    return got.ok() && got->has_value();
  })) << "acknowledged failure "
      << id << " is not stored";
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, MemoryModeCountsTheRowsAPersisterCrashLoses) {
  PipelineFixture f;
  f.options().durability = PipelineDurability::memory;
  f.options().batch_rows = 5;
  auto& service = f.start();
  // A slow database: one batch of five per connection in flight, the rest waiting in memory.
  f.store().stall_ms = 400;
  Waiter w;
  for (int i = 0; i < 40; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(40), 40u);
  for (const auto& r : w.results()) ASSERT_TRUE(r.ok());
  ASSERT_TRUE(service.crash_actor_for_test("persister"));
  f.store().stall_ms = 0;
  auto dropped = [&](const char* reason) {
    return static_cast<std::int64_t>(
        metric_value(f, std::string("failure_persist_dropped_total{reason=\"") + reason + "\"}"));
  };
  // Every acknowledged row is stored (the batches out) or counted lost with the persister.
  ASSERT_TRUE(eventually([&] { return dropped("restart") + stored_count(f) == 40; }))
      << dropped("restart") << " dropped, " << stored_count(f) << " stored";
  EXPECT_GE(dropped("restart"), 20);
  f.stop();
}

TEST(FailureService, AFailedFsyncRefusesTheGroupAfterItToo) {
  PipelineFixture f;
  HeldDisk disk;
  f.options().wal_datasync = disk.datasync();
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  auto& service = f.start();
  Waiter first;
  Waiter second;
  ASSERT_NO_FATAL_FAILURE(ingest_two_groups(service, disk, first, second));

  disk.release(EIO);
  ASSERT_EQ(first.wait_for(1), 1u);
  ASSERT_EQ(second.wait_for(1), 1u);
  ASSERT_FALSE(first.results()[0].ok());
  ASSERT_FALSE(second.results()[0].ok());
  EXPECT_EQ(first.results()[0].error().kind, ErrorKind::unavailable);
  EXPECT_EQ(second.results()[0].error().kind, ErrorKind::unavailable);
  // The log stays failed: later failures are refused too, and the instance is not ready.
  Waiter later;
  service.ingest({input("run-c", "RATE_LIMITED")}, {}, later.callback());
  ASSERT_EQ(later.wait_for(1), 1u);
  EXPECT_FALSE(later.results()[0].ok());
  EXPECT_FALSE(service.readiness().accepting);
  f.stop();
  flush_logs();
  const std::string logged =
      ::testing::internal::GetCapturedStdout() + ::testing::internal::GetCapturedStderr();
  EXPECT_NE(logged.find("wal failed"), std::string::npos) << logged;
  // Nothing refused reached the database.
  EXPECT_EQ(stored_count(f), 0);
}

TEST(FailureService, InflightBoundRefusesExcessAtOnce) {
  PipelineFixture f;
  f.options().max_inflight = 5;
  auto& service = f.start();
  f.store().stall_ms = 0;
  Waiter w;
  // The WAL sync is asynchronous, so a burst exceeds five jobs in flight.
  for (int i = 0; i < 500; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(500), 500u);
  int overloaded = 0;
  for (const auto& r : w.results()) {
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::overloaded);
      ++overloaded;
    }
  }
  EXPECT_GT(overloaded, 0);
  EXPECT_NE(f.metrics().serialize().find("failcat_rejected_total{reason=\"overloaded\"}"),
            std::string::npos);
}

TEST(FailureService, ShutdownRefusesNewWorkAndFlushes) {
  PipelineFixture f;
  auto& service = f.start();
  Waiter w;
  for (int i = 0; i < 100; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(100), 100u);
  service.begin_shutdown();
  EXPECT_FALSE(service.readiness().accepting);
  Waiter late;
  service.ingest({input("run", "RATE_LIMITED")}, {}, late.callback());
  ASSERT_EQ(late.wait_for(1), 1u);
  ASSERT_FALSE(late.results()[0].ok());
  EXPECT_EQ(late.results()[0].error().kind, ErrorKind::overloaded);
  EXPECT_EQ(f.stop(), 0u);
  EXPECT_EQ(stored_count(f), 100);
}

TEST(FailureService, MatchesAreBoundedAndRefusedAtShutdownLikeIngests) {
  PipelineFixture f;
  f.options().max_inflight = 1;
  auto& service = f.start();
  struct Answers {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::optional<MatchType>> got;  // empty optional: refused
    std::vector<ErrorKind> errors;
  };
  auto answers = std::make_shared<Answers>();
  auto match = [&] {
    service.match(
        input("run", "RATE_LIMITED"),
        [answers](const FailureInput&, const MatchResult& m, const Catalog&) {
          std::lock_guard<std::mutex> lock(answers->mutex);
          answers->got.emplace_back(m.type);
          answers->cv.notify_all();
        },
        [answers](const Error& e) {
          std::lock_guard<std::mutex> lock(answers->mutex);
          answers->got.emplace_back();
          answers->errors.push_back(e.kind);
          answers->cv.notify_all();
        });
  };
  auto answered = [&] {
    std::lock_guard<std::mutex> lock(answers->mutex);
    return answers->got.size();
  };
  auto wait_for = [&](std::size_t n) {
    std::unique_lock<std::mutex> lock(answers->mutex);
    return answers->cv.wait_for(lock, std::chrono::seconds(10),
                                [&] { return answers->got.size() >= n; });
  };
  // One at a time fits, and each answered match frees its slot for the next.
  for (std::size_t i = 1; i <= 3; ++i) {
    match();
    ASSERT_TRUE(wait_for(i));
    ASSERT_TRUE(answers->got.back());
    EXPECT_EQ(*answers->got.back(), MatchType::exact);
  }
  // A held ingest takes the only slot: a match now is refused at once.
  Waiter held;
  service.ingest({input("run", "RATE_LIMITED")}, {}, held.callback());
  bool refused_while_full = false;
  for (int i = 0; i < 200 && !refused_while_full; ++i) {
    const std::size_t before = answered();
    match();
    ASSERT_TRUE(wait_for(before + 1));
    refused_while_full = !answers->got.back();
  }
  ASSERT_EQ(held.wait_for(1), 1u);
  EXPECT_TRUE(refused_while_full) << "no match met the ingest in flight";
  service.begin_shutdown();
  const std::size_t before = answered();
  match();
  ASSERT_TRUE(wait_for(before + 1));
  EXPECT_FALSE(answers->got.back());
  EXPECT_EQ(answers->errors.back(), ErrorKind::overloaded);
  EXPECT_EQ(f.stop(), 0u);
}

TEST(MatchJob, AnswersOnceAndRefusesWhenDroppedUnanswered) {
  int done = 0, refused = 0, released = 0;
  const auto catalog =
      load_catalog_file(testing::source_dir() + "/config/failure_catalog.json").catalog;
  ASSERT_TRUE(catalog);
  {
    MatchJob job(
        input("run", "X"), [&](auto&&...) { ++done; }, [&](const Error&) { ++refused; },
        [&] { ++released; });
    job.answer(MatchResult{}, *catalog);
    job.answer(MatchResult{}, *catalog);
    job.refuse(Error::unavailable("late"));
  }
  EXPECT_EQ(std::tie(done, refused, released), std::make_tuple(1, 0, 1));
  {
    MatchJob dropped(
        input("run", "X"), [&](auto&&...) { ++done; },
        [&](const Error& e) {
          EXPECT_EQ(e.kind, ErrorKind::unavailable);
          ++refused;
        },
        [&] { ++released; });
  }
  EXPECT_EQ(std::tie(done, refused, released), std::make_tuple(1, 1, 2));
}

TEST(FailureService, RecoveryChangesCountOutcomes) {
  PipelineFixture f;
  auto& service = f.start();
  Waiter w;
  service.ingest({input("run", "RATE_LIMITED"), input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  const auto id = w.results()[0]->records[0].id;
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 2; }));

  std::mutex m;
  std::condition_variable cv;
  std::optional<Result<RecoveryUpdateResult>> one;
  auto job = std::make_shared<RecoveryJob>();
  job->id = id;
  job->update.recovery_succeeded = true;
  job->update.at = SystemClock().now();
  job->done_one = [&](Result<RecoveryUpdateResult> r) {
    std::lock_guard<std::mutex> lock(m);
    one = std::move(r);
    cv.notify_all();
  };
  service.recover(job);
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return one.has_value(); }));
  }
  ASSERT_TRUE(one->ok());
  EXPECT_EQ((*one)->outcome, UpdateOutcome::updated);

  std::optional<Result<std::int64_t>> bulk;
  auto bulk_job = std::make_shared<RecoveryJob>();
  bulk_job->filter = FailureFilter{};
  bulk_job->filter->status = RecoveryStatus::unrecovered;
  bulk_job->update.recovery_succeeded = false;
  bulk_job->update.at = SystemClock().now();
  bulk_job->done_bulk = [&](Result<std::int64_t> r) {
    std::lock_guard<std::mutex> lock(m);
    bulk = std::move(r);
    cv.notify_all();
  };
  service.recover(bulk_job);
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return bulk.has_value(); }));
  }
  ASSERT_TRUE(bulk->ok());
  EXPECT_EQ(**bulk, 1);
  const auto text = f.metrics().serialize();
  EXPECT_NE(text.find("recovery_success_total 1"), std::string::npos);
  EXPECT_NE(text.find("recovery_failure_total 1"), std::string::npos);

  // A change that records no attempt (back to pending) is neither a success nor a failure.
  one.reset();
  auto reset = std::make_shared<RecoveryJob>();
  reset->id = id;
  reset->update.recovery_succeeded = false;
  reset->update.recovery_attempted = false;
  reset->update.at = SystemClock().now();
  reset->done_one = job->done_one;
  service.recover(reset);
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return one.has_value(); }));
  }
  ASSERT_TRUE(one->ok());
  EXPECT_EQ((*one)->outcome, UpdateOutcome::updated);
  EXPECT_EQ(metric_value(f, "recovery_success_total"), 1);
  EXPECT_EQ(metric_value(f, "recovery_failure_total"), 1);
}

TEST(FailureService, ARecoveryChangePastTheDeadlineAnswersHowItEndedNeverRetry) {
  PipelineFixture f;
  f.options().storage_actors = 1;
  f.options().read_timeout = 200'000;
  auto& service = f.start();
  Waiter w;
  service.ingest({input("run", "RATE_LIMITED"), input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 2; }));
  auto recovered = [&] {
    ListQuery query;
    query.filter.status = RecoveryStatus::recovered;
    auto page = f.open_store()->list(TenantScope::all(), query);
    return page ? page->total : -1;
  };
  struct Heard {
    std::mutex m;
    std::condition_variable cv;
    std::vector<Result<std::int64_t>> bulk;
  };
  auto heard = std::make_shared<Heard>();
  auto bulk = [&] {
    auto job = std::make_shared<RecoveryJob>();
    job->filter = FailureFilter{};
    job->update.recovery_succeeded = true;
    job->update.at = SystemClock().now();
    job->done_bulk = [heard](Result<std::int64_t> r) {
      std::lock_guard<std::mutex> lock(heard->m);
      heard->bulk.push_back(std::move(r));
      heard->cv.notify_all();
    };
    service.recover(job);
  };
  auto wait_heard = [&](std::size_t n) {
    std::unique_lock<std::mutex> lock(heard->m);
    return heard->cv.wait_for(lock, std::chrono::seconds(10),
                              [&] { return heard->bulk.size() >= n; });
  };

  // Running past the 200 ms deadline: the caller hears the count once it committed, not a
  // 503 inviting a second bulk.
  f.store().recovery_stall_ms = 600;
  bulk();
  ASSERT_TRUE(wait_heard(1));
  ASSERT_TRUE(heard->bulk[0].ok()) << heard->bulk[0].error().message;
  EXPECT_EQ(*heard->bulk[0], 2);
  EXPECT_EQ(recovered(), 2);
  EXPECT_NE(f.metrics().serialize().find("recovery_success_total 2"), std::string::npos);

  // Queued behind a read that holds the only connection past the deadline: refused at the
  // deadline, and it never runs afterwards.
  f.store().recovery_stall_ms = 0;
  std::promise<void> release;
  auto held = release.get_future().share();
  std::promise<Status> read_heard;
  service.call_store([held](FailureStore&) { held.wait(); },
                     [&](Status s) { read_heard.set_value(std::move(s)); });
  auto unmark = std::make_shared<RecoveryJob>();
  unmark->filter = FailureFilter{};
  unmark->update.recovery_succeeded = false;
  unmark->update.at = SystemClock().now();
  unmark->done_bulk = [heard](Result<std::int64_t> r) {
    std::lock_guard<std::mutex> lock(heard->m);
    heard->bulk.push_back(std::move(r));
    heard->cv.notify_all();
  };
  service.recover(unmark);
  ASSERT_TRUE(wait_heard(2));
  ASSERT_FALSE(heard->bulk[1].ok());
  EXPECT_EQ(heard->bulk[1].error().kind, ErrorKind::unavailable);
  // The read running past its deadline was answered at it too.
  auto read_status = read_heard.get_future();
  ASSERT_EQ(read_status.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_FALSE(read_status.get());
  release.set_value();
  // The storage actor takes the abandoned change next and must skip it: a read queued after
  // it runs once the actor is past it.
  std::promise<void> after;
  service.call_store([](FailureStore&) {}, [&](Status) { after.set_value(); });
  ASSERT_EQ(after.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(recovered(), 2);
  EXPECT_NE(f.metrics().serialize().find("recovery_failure_total 0"), std::string::npos);
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, OperatorCanForceTheBreakerOpenAndBack) {
  PipelineFixture f;
  auto& service = f.start();
  std::mutex m;
  std::condition_variable cv;
  std::optional<BreakerView> view;
  auto set = [&](std::optional<BreakerAction> action) {
    {
      std::lock_guard<std::mutex> lock(m);
      view.reset();
    }
    service.breaker(action, [&](const BreakerView& v) {
      std::lock_guard<std::mutex> lock(m);
      view = v;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return view.has_value(); });
    return *view;
  };
  EXPECT_EQ(set(BreakerAction::open).state, "open");
  EXPECT_EQ(view->mode, "forced_open");
  Waiter w;
  for (int i = 0; i < 10; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(10), 10u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(stored_count(f), 0);  // nothing touches the database while forced open
  EXPECT_EQ(f.store().inserts.load(), 0);
  // ... and the rows wait: the log is not read back again and again for refused batches.
  EXPECT_NE(f.metrics().serialize().find("failcat_wal_reread_rows_total 0\n"), std::string::npos)
      << f.metrics().serialize();
  EXPECT_GT(unpersisted_bytes(f), 0.0);  // what FAILCAT_WAL_MAX_BYTES caps
  EXPECT_EQ(set(BreakerAction::automatic).mode, "auto");
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 10; }));
  // Once checkpointed, nothing counts against the WAL's cap any more.
  EXPECT_TRUE(eventually([&] { return unpersisted_bytes(f) == 0; }));
}

TEST(FailureService, ARestartedBreakerKeepsTheOperatorsHold) {
  PipelineFixture f;
  auto& service = f.start();
  std::promise<BreakerView> opened;
  service.breaker(BreakerAction::open, [&](const BreakerView& v) { opened.set_value(v); });
  ASSERT_EQ(opened.get_future().get().mode, "forced_open");
  ASSERT_TRUE(service.crash_actor_for_test("breaker"));
  ASSERT_TRUE(eventually([&] {
    return f.metrics().serialize().find("failcat_actor_restarts_total{actor=\"breaker\"} 1") !=
           std::string::npos;
  }));
  // Whatever is asked while it restarts is answered: a report, or a refused action.
  auto ask = [&](std::optional<BreakerAction> action) {
    auto heard = std::make_shared<std::promise<std::string>>();
    service.breaker(
        action, [heard](const BreakerView& v) { heard->set_value(v.mode); },
        [heard](const Error& e) { heard->set_value("refused: " + e.message); });
    auto answer = heard->get_future();
    EXPECT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return answer.get();
  };
  ASSERT_TRUE(eventually([&] { return ask(std::nullopt) == "forced_open"; }));
  // The restarted actor answers an action (a dead one refuses it). Taking over changed no
  // state, and holding open what is held open changes none either: the operator's first open
  // is the only transition.
  ASSERT_TRUE(eventually([&] { return ask(BreakerAction::open) == "forced_open"; }));
  EXPECT_EQ(metric_value(f, "failcat_breaker_transitions_total{from=\"closed\",to=\"open\"}"), 1);
  EXPECT_EQ(service.status().breaker_transitions.load(), 1u);
  Waiter w;
  for (int i = 0; i < 10; ++i) service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(10), 10u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(f.store().inserts.load(), 0);  // still isolated
  ASSERT_TRUE(eventually([&] { return ask(BreakerAction::automatic) == "auto"; }));
  EXPECT_TRUE(eventually([&] { return stored_count(f) == 10; }));
}

TEST(FailureService, RecoveryChangesAndBreakerActionsSentToADeadActorAreAnswered) {
  PipelineFixture f;
  auto& service = f.start();
  Waiter w;
  service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 1; }));
  const auto id = w.results()[0]->records[0].id;
  // Sent at once after the crash, while the supervisor has not restarted the actor (nor
  // perhaps heard of its death yet): each answers, whatever it answers.
  ASSERT_TRUE(service.crash_actor_for_test("gateway"));
  auto heard = std::make_shared<std::promise<bool>>();
  auto job = std::make_shared<RecoveryJob>();
  job->id = id;
  job->update.recovery_succeeded = true;
  job->update.at = SystemClock().now();
  job->done_one = [heard](Result<RecoveryUpdateResult> r) {
    heard->set_value(r.ok() || r.error().kind == ErrorKind::unavailable);
  };
  service.recover(std::move(job));
  auto answer = heard->get_future();
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(answer.get());

  ASSERT_TRUE(service.crash_actor_for_test("breaker"));
  auto acted = std::make_shared<std::promise<std::string>>();
  service.breaker(
      BreakerAction::open, [acted](const BreakerView& v) { acted->set_value(v.mode); },
      [acted](const Error&) { acted->set_value("refused"); });
  auto said = acted->get_future();
  ASSERT_EQ(said.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const auto mode = said.get();
  EXPECT_TRUE(mode == "forced_open" || mode == "refused") << mode;
}

TEST(FailureService, ABacklogDrainsOverHalfTheConnections) {
  PipelineFixture f;
  f.options().storage_actors = 4;
  f.options().memory_rows = 100;  // the backlog is re-read from the log
  auto& service = f.start();
  std::promise<void> opened;
  service.breaker(BreakerAction::open, [&](const BreakerView&) { opened.set_value(); });
  opened.get_future().get();
  Waiter w;
  constexpr int kRows = 6'000;
  for (int i = 0; i < kRows; ++i)
    service.ingest({input("backlog", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(kRows, std::chrono::seconds(60)), static_cast<std::size_t>(kRows));
  for (const auto& r : w.results()) ASSERT_TRUE(r.ok()) << r.error().message;
  f.store().stall_ms = 50;  // each insert holds its connection a while
  std::promise<void> released;
  service.breaker(BreakerAction::automatic, [&](const BreakerView&) { released.set_value(); });
  released.get_future().get();
  ASSERT_TRUE(eventually([&] { return stored_count(f) == kRows; }, std::chrono::seconds(60)));
  // Several batches were sent (a backlog goes out in shares), never more than two at once.
  EXPECT_GE(f.store().insert_sizes().size(), 3u);
  EXPECT_EQ(f.store().most_inserting.load(), 2);
}

TEST(FailureService, AnOldRollupStepThatFailsHoldsNeitherTheCurrentHourNorItsExport) {
  PipelineFixture f;
  f.options().aggregate_interval = 100'000;
  f.options().export_dir = f.dir() + "/exports";
  const Micros current = floor_hour(SystemClock().now());
  // The first run looks 48 hours back: its older days fail (a statement timeout), the day
  // holding the current hour does not.
  f.store().fail_rollups_before = current - kMicrosPerHour;
  auto& service = f.start();
  Waiter w;
  service.ingest({input("run", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  ASSERT_TRUE(eventually([&] { return stored_count(f) == 1; }));
  const std::string t = format_rfc3339(current);
  const std::string file = f.options().export_dir + "/aggregates-" + t.substr(0, 4) +
                           t.substr(5, 2) + t.substr(8, 2) + "T" + t.substr(11, 2) + ".ndjson";
  ASSERT_TRUE(eventually([&] {
    std::ifstream in(file);
    std::string line;
    return std::getline(in, line) && line.find("RATE_LIMITED") != std::string::npos;
  })) << file;
  // The failing days are retried on every run (the window did not move past them).
  const int rollups = f.store().rollups.load();
  ASSERT_TRUE(eventually([&] { return f.store().rollups.load() >= rollups + 3; }));
  f.stop();
}

// Retention deletes in bounded transactions but keeps going while it has rows to delete: a
// fixed number of batches a run would let an ingest faster than that grow the table for ever.
TEST(FailureService, RetentionCatchesUpInOneRun) {
  PipelineFixture f;
  f.options().retention_days = 1;
  f.options().retention_batch_rows = 10;
  {
    auto store = f.open_store();
    ASSERT_TRUE(store->migrate().ok());
    UuidV7Generator ids(7);
    const Micros old = SystemClock().now() - 2 * 24 * kMicrosPerHour;
    std::vector<FailureRecord> rows;
    for (int i = 0; i < 1000; ++i) {
      FailureRecord r;
      r.id = ids.next(old / 1000);
      r.run_id = "run-old";
      r.tenant_id = std::string(kDefaultTenant);
      r.error_code = "E_OLD";
      r.error_message = "old";
      r.match_type = "miss";
      r.created_at = old;
      r.updated_at = old;
      rows.push_back(std::move(r));
    }
    ASSERT_TRUE(store->insert_batch(rows).ok());
  }
  auto& service = f.start();
  Waiter w;
  service.ingest({input("run-new", "RATE_LIMITED")}, {}, w.callback());
  ASSERT_EQ(w.wait_for(1), 1u);
  EXPECT_TRUE(eventually([&] { return stored_count(f) == 1; })) << stored_count(f) << " rows";
  EXPECT_EQ(metric_value(f, "failcat_retention_deleted_rows_total"), 1000);
  EXPECT_EQ(f.stop(), 0u);
}

TEST(FailureService, NothingTouchesTheDatabaseWhileTheBreakerIsolatesIt) {
  PipelineFixture f;
  f.options().aggregate_interval = 100'000;
  auto& service = f.start();
  ASSERT_TRUE(eventually([&] { return f.store().rollups.load() > 0; }));
  auto set = [&](BreakerAction action) {
    std::promise<BreakerView> view;
    service.breaker(action, [&](const BreakerView& v) { view.set_value(v); });
    return view.get_future().get();
  };
  // A read through the gateway: whether it ran on a connection, and what the caller heard.
  auto read = [&] {
    auto ran = std::make_shared<std::atomic<bool>>(false);
    std::promise<Status> heard;
    service.call_store([ran](FailureStore&) { *ran = true; },
                       [&](Status s) { heard.set_value(std::move(s)); });
    auto status = heard.get_future().get();
    return std::make_pair(ran->load(), status);
  };
  ASSERT_EQ(set(BreakerAction::open).state, "open");
  const auto [ran, status] = read();
  EXPECT_FALSE(ran);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().kind, ErrorKind::unavailable);
  EXPECT_NE(status.error().message.find("circuit breaker is open"), std::string::npos);
  EXPECT_EQ(status.error().retry_after_seconds, 30);  // an operator holds it open
  // The periodic jobs wait too (the aggregator ticks every 100 ms here).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int rollups = f.store().rollups.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(f.store().rollups.load(), rollups);

  ASSERT_EQ(set(BreakerAction::automatic).mode, "auto");
  const auto [ran_after, status_after] = read();
  EXPECT_TRUE(ran_after);
  EXPECT_TRUE(status_after);
  EXPECT_TRUE(eventually([&] { return f.store().rollups.load() > rollups; }));
}

}  // namespace
}  // namespace failcat
