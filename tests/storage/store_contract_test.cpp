// One contract, two stores: every test here runs on SQLite and on PostgreSQL.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/clock.hpp"
#include "core/tokenizer.hpp"
#include "core/unmatched_signatures.hpp"
#include "core/uuid.hpp"
#include "storage/failure_store.hpp"
#include "storage/migration_set.hpp"
#include "storage/store_factory.hpp"
#include "tests/storage/store_test_backend.hpp"

namespace failcat {
namespace {

constexpr Micros kNow = 1'767'225'600 * kMicrosPerSecond;  // 2026-01-01T00:00:00Z
const std::string kTenantA = "11111111-1111-4111-8111-111111111111";
const std::string kTenantB = "22222222-2222-4222-8222-222222222222";

/// A failure with only the required columns, at `at`, for tests outside the fixture.
FailureRecord plain_row(UuidV7Generator& ids, Micros at) {
  FailureRecord r;
  r.id = ids.next(at / 1000);
  r.run_id = "run-1";
  r.tenant_id = kTenantA;
  r.error_code = "E";
  r.created_at = at;
  r.updated_at = at;
  return r;
}

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = testing::make_test_backend(GetParam(), why);
    if (!backend_) {
      const char* require = std::getenv("FAILCAT_REQUIRE_POSTGRES");
      if (require != nullptr && std::string(require) == "1") FAIL() << why;
      GTEST_SKIP() << why;
    }
    store_ = backend_->open();
    auto migrated = store_->migrate();
    ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  }

  FailureRecord record(Micros created_at, const std::string& tenant = kTenantA,
                       const std::string& code = "RATE_LIMITED") {
    FailureRecord r;
    r.id = ids_.next(created_at / 1000);
    r.run_id = "run-1";
    r.tenant_id = tenant;
    r.error_code = code;
    r.error_message = "rate limited by provider";
    r.catalog_entry_id = "llm_rate_limit";
    r.match_type = "exact";
    r.match_confidence = 1.0;
    r.category = "rate_limit";
    r.severity = "medium";
    r.is_retryable = true;
    r.recovery_mode = "retry_with_backoff";
    r.recovery_suggestion = "Back off and retry";
    r.created_at = created_at;
    r.updated_at = created_at;
    return r;
  }

  FailureRecord miss(Micros created_at, const std::string& message,
                     const std::string& code = "WEIRD_THING") {
    FailureRecord r = record(created_at, kTenantA, code);
    r.error_message = message;
    r.catalog_entry_id.reset();
    r.match_type = "miss";
    r.match_confidence = 0.0;
    r.category.reset();
    r.severity.reset();
    r.is_retryable = false;
    r.recovery_mode.reset();
    r.recovery_suggestion.reset();
    return r;
  }

  /// Tenant A's stats of the hour before kNow, with `top_n` entries per list.
  Result<FailureStats> last_hour_stats(std::size_t top_n) {
    StatsQuery q;
    q.since = kNow - kMicrosPerHour;
    q.top_n = top_n;
    return store_->stats(TenantScope::only(kTenantA), q);
  }

  void insert(const std::vector<FailureRecord>& rows) {
    auto inserted = store_->insert_batch(rows);
    ASSERT_TRUE(inserted.ok()) << inserted.error().message;
  }

  std::unique_ptr<testing::StoreTestBackend> backend_;
  std::unique_ptr<FailureStore> store_;
  UuidV7Generator ids_{1234};
};

std::vector<std::string> ids_of(const std::vector<FailureRecord>& rows) {
  std::vector<std::string> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  return ids;
}

TEST_P(StoreContract, MigrateTwiceIsANoOp) {
  auto again = store_->migrate();
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->empty());
  auto status = store_->migration_status();
  ASSERT_TRUE(status.ok());
  ASSERT_GE(status->size(), 3u);
  for (const auto& m : *status) EXPECT_TRUE(m.applied) << m.version << " " << m.name;
  EXPECT_EQ(status->front().version, 1);
}

/// SQL counting failure_matches' `idx_fm_*` indexes in the test's schema.
std::string count_fm_indexes_sql(bool pg) {
  return pg ? "SELECT count(*) FROM pg_indexes WHERE tablename = 'failure_matches' AND "
              "schemaname = current_schema() AND indexname LIKE 'idx_fm_%'"
            : "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = "
              "'failure_matches' AND name LIKE 'idx_fm_%'";
}

/// SQL giving the number of columns of index `name` in the test's schema.
std::string index_columns_sql(bool pg, const std::string& name) {
  return pg ? "SELECT i.indnatts FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
              "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
              "current_schema() AND c.relname = '" +
                  name + "'"
            : "SELECT count(*) FROM pragma_index_info('" + name + "')";
}

TEST_P(StoreContract, SchemaHasTheTwentyThreeColumnsAndTwelveIndexes) {
  const bool pg = GetParam() == "postgres";
  const long long columns = backend_->query_int(
      pg ? "SELECT count(*) FROM information_schema.columns WHERE table_name = 'failure_matches' "
           "AND table_schema = current_schema()"
         : "SELECT count(*) FROM pragma_table_info('failure_matches')");
  EXPECT_EQ(columns, 23);
  const long long indexes = backend_->query_int(count_fm_indexes_sql(pg));
  // The seed's twelve, by name; migration 0006 folded 0005's filter-then-time indexes into them.
  EXPECT_EQ(indexes, 12);
  for (const char* name :
       {"idx_fm_run_id", "idx_fm_tenant_id", "idx_fm_error_code", "idx_fm_catalog_entry_id",
        "idx_fm_created_at", "idx_fm_category", "idx_fm_severity", "idx_fm_recovery_mode",
        "idx_fm_tenant_error", "idx_fm_tenant_time", "idx_fm_recovery_pending",
        "idx_fm_recent_misses"}) {
    EXPECT_EQ(backend_->query_int(
                  pg ? "SELECT count(*) FROM pg_indexes WHERE tablename = 'failure_matches' AND "
                       "schemaname = current_schema() AND indexname = '" +
                           std::string(name) + "'"
                     : "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '" +
                           std::string(name) + "'"),
              1)
        << name;
  }
  // The run, category and error code indexes lead with their filter, then the list order.
  for (const char* name : {"idx_fm_run_id", "idx_fm_category", "idx_fm_error_code"}) {
    EXPECT_EQ(backend_->query_int(index_columns_sql(pg, name)), 3) << name;
  }
  if (pg) {
    // Partial indexes, read from pg_index itself: pg_indexes.indexdef calls pg_get_indexdef(),
    // which may run on rows of other schemas before the schema filter applies and fail on an
    // index that a test running in parallel is dropping.
    EXPECT_EQ(backend_->query_int("SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = "
                                  "i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
                                  "WHERE t.relname = 'failure_matches' AND n.nspname = "
                                  "current_schema() AND i.indpred IS NOT NULL"),
              2);
    EXPECT_EQ(backend_->query_int("SELECT count(*) FROM information_schema.columns WHERE "
                                  "table_name = 'failure_matches' AND table_schema = "
                                  "current_schema() AND column_name = 'tenant_id' AND "
                                  "is_nullable = 'NO'"),
              1);
  }
}

TEST_P(StoreContract, MigrationTwoBackfillsNullTenants) {
  std::string why;
  auto fresh = testing::make_test_backend(GetParam(), why);
  ASSERT_TRUE(fresh) << why;
  auto store = fresh->open();
  auto first = store->migrate(1);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, std::vector<int>{1});
  fresh->exec_raw(
      "INSERT INTO failure_matches (id, run_id, tenant_id, error_code) VALUES "
      "('01890000-0000-7000-8000-000000000001', 'r1', NULL, 'E1'),"
      "('01890000-0000-7000-8000-000000000002', 'r2', NULL, 'E2'),"
      "('01890000-0000-7000-8000-000000000003', 'r3', '" +
      kTenantA + "', 'E3')");
  auto status = store->migration_status();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE((*status)[0].applied);
  EXPECT_FALSE((*status)[1].applied);

  auto rest = store->migrate();
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_EQ(rest->front(), 2);
  EXPECT_EQ(fresh->query_int("SELECT count(*) FROM failure_matches WHERE tenant_id IS NULL"), 0);
  EXPECT_EQ(fresh->query_int("SELECT count(*) FROM failure_matches WHERE tenant_id = "
                             "'00000000-0000-0000-0000-000000000000'"),
            2);
  EXPECT_EQ(
      fresh->query_int("SELECT count(*) FROM failure_matches WHERE tenant_id = '" + kTenantA + "'"),
      1);
  EXPECT_ANY_THROW(
      fresh->exec_raw("INSERT INTO failure_matches (id, run_id, tenant_id, error_code) VALUES "
                      "('01890000-0000-7000-8000-000000000009', 'r9', NULL, 'E9')"));
  auto page = store->list(TenantScope::all(), ListQuery{});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 3);
}

TEST_P(StoreContract, MigrationSixFoldsTheFilterIndexesAndKeepsTheRows) {
  const bool pg = GetParam() == "postgres";
  std::string why;
  auto fresh = testing::make_test_backend(GetParam(), why);
  ASSERT_TRUE(fresh) << why;
  auto store = fresh->open();
  auto first = store->migrate(5);
  ASSERT_TRUE(first.ok()) << first.error().message;
  const auto count_indexes = [&] { return fresh->query_int(count_fm_indexes_sql(pg)); };
  EXPECT_EQ(count_indexes(), 15);
  ASSERT_TRUE(store->insert_batch({record(kNow)}).ok());

  auto rest = store->migrate();
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_EQ(rest->front(), 6);
  EXPECT_EQ(count_indexes(), 12);
  ListQuery by_run;
  by_run.filter.run_id = record(kNow).run_id;
  auto page = store->list(TenantScope::all(), by_run);
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page->total, 1);

  // Its text runs again without harm (the PostgreSQL one is guarded; SQLite rebuilds).
  const auto& all = pg ? postgres_migrations() : sqlite_migrations();
  const auto six =
      std::find_if(all.begin(), all.end(), [](const Migration& m) { return m.version == 6; });
  ASSERT_NE(six, all.end());
  fresh->exec_raw(six->sql);
  EXPECT_EQ(count_indexes(), 12);
  EXPECT_EQ(fresh->query_int(index_columns_sql(pg, "idx_fm_run_id")), 3);
}

TEST_P(StoreContract, InsertedRecordRoundTripsEveryColumn) {
  FailureRecord r = record(kNow);
  r.error_message = "Überlastung: 'quoted' \"double\" \\ back\nslash";
  r.match_confidence = 0.123456789;
  r.recovered_at = kNow + 5;
  r.recovery_attempted = true;
  r.recovery_succeeded = true;
  r.recovered_by = "alice";
  r.recovery_notes = "restarted the tool";
  r.skill_id = "web.search";
  r.step_index = 7;
  r.context_json = R"({"attempt":2,"nested":{"k":[1,2,3]}})";
  insert({r});
  auto got = store_->get(TenantScope::all(), r.id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_TRUE(got->has_value());
  FailureRecord g = **got;
  ASSERT_TRUE(g.context_json.has_value());
  // JSONB normalises whitespace; compare the rest exactly.
  EXPECT_NE(g.context_json->find("\"nested\""), std::string::npos);
  g.context_json = r.context_json;
  EXPECT_EQ(g, r);

  FailureRecord bare = record(kNow + 1);
  bare.error_message.reset();
  bare.catalog_entry_id.reset();
  bare.match_type.reset();
  bare.match_confidence.reset();
  bare.category.reset();
  bare.severity.reset();
  bare.recovery_mode.reset();
  bare.recovery_suggestion.reset();
  insert({bare});
  auto got_bare = store_->get(TenantScope::all(), bare.id);
  ASSERT_TRUE(got_bare.ok());
  ASSERT_TRUE(got_bare->has_value());
  EXPECT_EQ(**got_bare, bare);
}

TEST_P(StoreContract, InsertIsIdempotentOnId) {
  const auto a = record(kNow);
  const auto b = record(kNow + 1);
  auto first = store_->insert_batch({a, b});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 2u);
  auto replay = store_->insert_batch({a, b, record(kNow + 2)});
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(*replay, 1u);
  EXPECT_EQ(store_->list(TenantScope::all(), ListQuery{})->total, 3);
  auto empty = store_->insert_batch({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, 0u);
}

// A batch the size the persister drains after a crash (large enough for COPY on PostgreSQL)
// whose first rows are stored already: only the new rows count, and each row is stored once.
TEST_P(StoreContract, ReplayedLargeBatchStoresOnlyItsNewRows) {
  std::vector<FailureRecord> stored;
  for (int i = 0; i < 40; ++i) stored.push_back(record(kNow + i * kMicrosPerSecond));
  auto first = store_->insert_batch(stored);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, 40u);
  std::vector<FailureRecord> replay = stored;
  for (int i = 40; i < 64; ++i) replay.push_back(record(kNow + i * kMicrosPerSecond));
  auto again = store_->insert_batch(replay);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, 24u);
  ListQuery all;
  all.limit = 1000;
  const auto listed = store_->list(TenantScope::all(), all);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->total, 64);
  std::set<std::string> ids;
  for (const auto& r : listed->items) ids.insert(r.id);
  EXPECT_EQ(ids.size(), 64u);
  // The store keeps working on the same connection after the fallback.
  auto next = store_->insert_batch({record(kNow + 100 * kMicrosPerSecond)});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(*next, 1u);
}

// Validation counts run_id and error_code in characters, as the VARCHAR(255) columns do: the
// longest values it lets through, in four-byte characters, are stored and indexed.
TEST_P(StoreContract, LongestValidValuesInMultibyteCharactersAreStored) {
  std::string longest;
  for (int i = 0; i < 255; ++i) longest += "\xf0\x9f\x98\x80";  // U+1F600, 1,020 bytes
  auto r = record(kNow);
  r.run_id = longest;
  r.error_code = longest;
  r.idempotency_key = longest;
  auto stored = store_->insert_batch({r});
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(*stored, 1u);
  auto got = store_->get(TenantScope::all(), r.id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->run_id, longest);
  EXPECT_EQ((*got)->error_code, longest);
}

TEST_P(StoreContract, IdempotencyKeyKeepsTheFirstFailurePerTenant) {
  auto first = record(kNow);
  first.idempotency_key = "evt-1";
  auto retry = record(kNow + 10);
  retry.idempotency_key = "evt-1";
  auto other_tenant = record(kNow + 20, kTenantB);
  other_tenant.idempotency_key = "evt-1";
  insert({first});
  // A second failure with a used key reaches the store only when its retry could not be
  // checked against the database in time (an outage, two nodes at once). It was answered with
  // its own id, so it is stored too; the key keeps naming the first.
  insert({retry, other_tenant});
  EXPECT_EQ(store_->list(TenantScope::all(), ListQuery{})->total, 3);
  auto stored_retry = store_->get(TenantScope::all(), retry.id);
  ASSERT_TRUE(stored_retry.ok() && stored_retry->has_value());
  auto found = store_->find_by_idempotency_key(kTenantA, "evt-1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, first.id);
  auto found_b = store_->find_by_idempotency_key(kTenantB, "evt-1");
  ASSERT_TRUE(found_b.ok() && found_b->has_value());
  EXPECT_EQ((*found_b)->id, other_tenant.id);
  EXPECT_FALSE(store_->find_by_idempotency_key(kTenantA, "evt-2")->has_value());
  // Replaying the first row with its key is still a no-op, not an error.
  auto replay = store_->insert_batch({first});
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(*replay, 0u);
  // An import asks to skip a row whose key has an owner; its own key it takes as usual.
  auto imported = record(kNow + 30);
  imported.idempotency_key = "evt-1";
  imported.skip_if_key_owned = true;
  auto fresh = record(kNow + 40);
  fresh.idempotency_key = "evt-new";
  fresh.skip_if_key_owned = true;
  auto skipped = store_->insert_batch({imported, fresh});
  ASSERT_TRUE(skipped.ok()) << skipped.error().message;
  EXPECT_EQ(*skipped, 1u);
  EXPECT_FALSE(store_->get(TenantScope::all(), imported.id)->has_value());
  EXPECT_EQ((*store_->find_by_idempotency_key(kTenantA, "evt-new"))->id, fresh.id);
}

TEST_P(StoreContract, GetIsScopedToTheTenant) {
  const auto r = record(kNow, kTenantA);
  insert({r});
  EXPECT_TRUE(store_->get(TenantScope::only(kTenantA), r.id)->has_value());
  EXPECT_FALSE(store_->get(TenantScope::only(kTenantB), r.id)->has_value());
  EXPECT_FALSE(store_->get(TenantScope::all(), ids_.next(kNow / 1000))->has_value());
}

TEST_P(StoreContract, ListFiltersAndOrdersNewestFirst) {
  auto a = record(kNow - 3 * kMicrosPerHour, kTenantA, "RATE_LIMITED");
  auto b = record(kNow - 2 * kMicrosPerHour, kTenantA, "TOOL_TIMEOUT");
  b.category = "timeout";
  b.run_id = "run-2";
  auto c = record(kNow - 1 * kMicrosPerHour, kTenantB, "RATE_LIMITED");
  c.recovery_succeeded = true;
  c.recovery_attempted = true;
  c.recovered_at = kNow;
  auto old = record(kNow - 48 * kMicrosPerHour, kTenantA, "RATE_LIMITED");
  insert({a, b, c, old});

  auto run = [&](FailureFilter f, TenantScope scope = TenantScope::all()) {
    ListQuery q;
    q.filter = std::move(f);
    auto page = store_->list(scope, q);
    EXPECT_TRUE(page.ok());
    EXPECT_EQ(page->total, static_cast<std::int64_t>(page->items.size()));
    return ids_of(page->items);
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(run({}), (Ids{c.id, b.id, a.id, old.id}));
  FailureFilter since;
  since.since = kNow - 24 * kMicrosPerHour;
  EXPECT_EQ(run(since), (Ids{c.id, b.id, a.id}));
  FailureFilter tenant;
  tenant.tenant_id = kTenantB;
  EXPECT_EQ(run(tenant), (Ids{c.id}));
  EXPECT_EQ(run({}, TenantScope::only(kTenantA)), (Ids{b.id, a.id, old.id}));
  FailureFilter code;
  code.error_code = "RATE_LIMITED";
  EXPECT_EQ(run(code), (Ids{c.id, a.id, old.id}));
  FailureFilter category;
  category.category = "timeout";
  EXPECT_EQ(run(category), (Ids{b.id}));
  FailureFilter run_id;
  run_id.run_id = "run-2";
  EXPECT_EQ(run(run_id), (Ids{b.id}));
  FailureFilter recovered;
  recovered.status = RecoveryStatus::recovered;
  EXPECT_EQ(run(recovered), (Ids{c.id}));
  FailureFilter unrecovered;
  unrecovered.status = RecoveryStatus::unrecovered;
  EXPECT_EQ(run(unrecovered), (Ids{b.id, a.id, old.id}));
  // A scope and a filter on another tenant see nothing.
  EXPECT_TRUE(run(tenant, TenantScope::only(kTenantA)).empty());
}

TEST_P(StoreContract, OffsetAndCursorPagingAgree) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 25; ++i) rows.push_back(record(kNow + (i / 3) * kMicrosPerSecond));
  insert(rows);

  std::vector<std::string> by_offset;
  for (std::int64_t offset = 0;; offset += 7) {
    ListQuery q;
    q.limit = 7;
    q.offset = offset;
    auto page = store_->list(TenantScope::all(), q);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->total, 25);
    if (page->items.empty()) break;
    for (const auto& r : page->items) by_offset.push_back(r.id);
  }
  std::vector<std::string> by_cursor;
  std::optional<ListCursor> cursor;
  int pages = 0;
  do {
    ListQuery q;
    q.limit = 7;
    q.after = cursor;
    auto page = store_->list(TenantScope::all(), q);
    ASSERT_TRUE(page.ok());
    for (const auto& r : page->items) by_cursor.push_back(r.id);
    cursor = page->next;
    ++pages;
  } while (cursor && pages < 10);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(by_offset, by_cursor);
  auto expected = ids_of(rows);
  std::sort(expected.begin(), expected.end(), std::greater<>());
  EXPECT_EQ(by_cursor, expected);
}

TEST_P(StoreContract, UnrecoveredListsMostSevereFirstThenNewest) {
  auto low = record(kNow + 1);
  low.severity = "low";
  auto critical_old = record(kNow + 2);
  critical_old.severity = "critical";
  auto critical_new = record(kNow + 3);
  critical_new.severity = "critical";
  auto high = record(kNow + 4);
  high.severity = "high";
  auto unknown = miss(kNow + 5, "who knows");
  auto done = record(kNow + 6);
  done.severity = "critical";
  done.recovery_succeeded = true;
  insert({low, critical_old, critical_new, high, unknown, done});
  UnrecoveredQuery q;
  auto page = store_->unrecovered(TenantScope::all(), q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(ids_of(page->items), (std::vector<std::string>{critical_new.id, critical_old.id,
                                                           high.id, low.id, unknown.id}));
  EXPECT_EQ(page->total, 5);
  q.limit = 2;
  q.offset = 1;
  EXPECT_EQ(ids_of(store_->unrecovered(TenantScope::all(), q)->items),
            (std::vector<std::string>{critical_old.id, high.id}));
  EXPECT_TRUE(store_->unrecovered(TenantScope::only(kTenantB), UnrecoveredQuery{})->items.empty());
}

TEST_P(StoreContract, RecoveryUpdateWritesRowAndAuditTogether) {
  const auto r = record(kNow);
  insert({r});
  RecoveryUpdate failed;
  failed.recovery_succeeded = false;
  failed.notes = "retry did not help";
  failed.recovered_by = "bob";
  failed.at = kNow + kMicrosPerSecond;
  auto first = store_->update_recovery(TenantScope::all(), r.id, failed, std::nullopt);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_EQ(first->outcome, UpdateOutcome::updated);
  EXPECT_TRUE(first->record->recovery_attempted);
  EXPECT_FALSE(first->record->recovery_succeeded);
  EXPECT_EQ(first->record->recovered_at, std::nullopt);
  EXPECT_EQ(first->record->updated_at, kNow + kMicrosPerSecond);
  EXPECT_EQ(first->record->recovery_notes, "retry did not help");

  RecoveryUpdate ok;
  ok.recovery_succeeded = true;
  ok.recovered_by = "carol";
  ok.at = kNow + 2 * kMicrosPerSecond;
  // A stale version is refused and nothing changes.
  auto stale = store_->update_recovery(TenantScope::all(), r.id, ok, std::vector<Micros>{kNow});
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->outcome, UpdateOutcome::precondition_failed);
  ASSERT_TRUE(stale->record.has_value());
  EXPECT_EQ(stale->record->updated_at, kNow + kMicrosPerSecond);

  auto second = store_->update_recovery(TenantScope::all(), r.id, ok,
                                        std::vector<Micros>{kNow, first->record->updated_at});
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->outcome, UpdateOutcome::updated);
  EXPECT_TRUE(second->record->recovery_succeeded);
  EXPECT_EQ(second->record->recovered_at, kNow + 2 * kMicrosPerSecond);
  EXPECT_EQ(second->record->recovered_by, "carol");

  auto events = store_->recovery_events(TenantScope::all(), r.id);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].actor, "bob");
  EXPECT_FALSE((*events)[0].old_attempted);
  EXPECT_TRUE((*events)[0].new_attempted);
  EXPECT_FALSE((*events)[0].new_succeeded);
  EXPECT_EQ((*events)[0].notes, "retry did not help");
  EXPECT_EQ((*events)[1].actor, "carol");
  EXPECT_TRUE((*events)[1].old_attempted);
  EXPECT_TRUE((*events)[1].new_succeeded);
  EXPECT_EQ((*events)[1].at, kNow + 2 * kMicrosPerSecond);
  EXPECT_EQ((*events)[1].tenant_id, kTenantA);
}

TEST_P(StoreContract, RecoveryUpdateOutsideTheScopeIsNotFound) {
  const auto r = record(kNow, kTenantA);
  insert({r});
  RecoveryUpdate u;
  u.recovery_succeeded = true;
  u.at = kNow + 1;
  auto foreign = store_->update_recovery(TenantScope::only(kTenantB), r.id, u, std::nullopt);
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(foreign->outcome, UpdateOutcome::not_found);
  EXPECT_FALSE(foreign->record.has_value());
  auto unknown =
      store_->update_recovery(TenantScope::all(), ids_.next(kNow / 1000), u, std::nullopt);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->outcome, UpdateOutcome::not_found);
  EXPECT_FALSE((*store_->get(TenantScope::all(), r.id))->recovery_succeeded);
  EXPECT_TRUE(store_->recovery_events(TenantScope::all(), r.id)->empty());
}

TEST_P(StoreContract, BulkRecoveryUpdatesAndAuditsEveryMatchingRow) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 30; ++i) rows.push_back(record(kNow + i, kTenantA, "TOOL_TIMEOUT"));
  rows.push_back(record(kNow + 100, kTenantA, "RATE_LIMITED"));
  rows.push_back(record(kNow + 101, kTenantB, "TOOL_TIMEOUT"));
  insert(rows);
  FailureFilter f;
  f.error_code = "TOOL_TIMEOUT";
  RecoveryUpdate u;
  u.recovery_succeeded = true;
  u.notes = "tool redeployed";
  u.recovered_by = "ops";
  u.at = kNow + kMicrosPerHour;
  auto updated = store_->bulk_update_recovery(TenantScope::only(kTenantA), f, u);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(*updated, 30);
  EXPECT_EQ(backend_->query_int("SELECT count(*) FROM failure_recovery_events"), 30);
  FailureFilter recovered;
  recovered.status = RecoveryStatus::recovered;
  EXPECT_EQ(store_->list(TenantScope::all(), ListQuery{recovered, 100, 0, {}, true})->total, 30);
  FailureFilter pending = f;
  pending.status = RecoveryStatus::unrecovered;
  EXPECT_EQ(*store_->bulk_update_recovery(TenantScope::only(kTenantA), pending, u), 0);
}

// Rows already in the state a bulk change asks for are left alone: the time they recovered,
// their notes and their ETag stay, nothing is audited and they are not counted. So a repeated
// or retried bulk change changes nothing twice; a different outcome still applies.
TEST_P(StoreContract, BulkRecoveryLeavesRowsAlreadyInThatState) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 3; ++i) rows.push_back(record(kNow + i, kTenantA, "TOOL_TIMEOUT"));
  insert(rows);
  RecoveryUpdate first;
  first.recovery_attempted = true;
  first.recovery_succeeded = true;
  first.notes = "retried by hand";
  first.at = kNow + kMicrosPerHour;
  ASSERT_EQ(store_->update_recovery(TenantScope::all(), rows[0].id, first, std::nullopt)->outcome,
            UpdateOutcome::updated);
  const FailureRecord before = *store_->get(TenantScope::all(), rows[0].id).value();

  FailureFilter f;
  f.error_code = "TOOL_TIMEOUT";
  RecoveryUpdate bulk;
  bulk.recovery_attempted = true;
  bulk.recovery_succeeded = true;
  bulk.notes = "tool redeployed";
  bulk.at = kNow + 2 * kMicrosPerHour;
  auto updated = store_->bulk_update_recovery(TenantScope::all(), f, bulk);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(*updated, 2);
  const FailureRecord after = *store_->get(TenantScope::all(), rows[0].id).value();
  EXPECT_EQ(after.recovered_at, before.recovered_at);
  EXPECT_EQ(after.recovery_notes, std::optional<std::string>("retried by hand"));
  EXPECT_EQ(after.updated_at, before.updated_at);
  EXPECT_EQ(backend_->query_int("SELECT count(*) FROM failure_recovery_events"), 3);

  bulk.at = kNow + 3 * kMicrosPerHour;
  EXPECT_EQ(*store_->bulk_update_recovery(TenantScope::all(), f, bulk), 0);
  EXPECT_EQ(backend_->query_int("SELECT count(*) FROM failure_recovery_events"), 3);

  bulk.recovery_succeeded = false;
  bulk.notes = "broke again";
  EXPECT_EQ(*store_->bulk_update_recovery(TenantScope::all(), f, bulk), 3);
  EXPECT_EQ(backend_->query_int("SELECT count(*) FROM failure_recovery_events"), 6);
}

TEST_P(StoreContract, StatsCountAKnownDataSet) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 6; ++i) rows.push_back(record(kNow + i));  // exact, rate_limit, medium
  auto p1 = record(kNow + 10, kTenantA, "TOOL_TIMEOUT_SEARCH");
  p1.match_type = "prefix";
  p1.category = "timeout";
  p1.severity = "high";
  p1.recovery_attempted = true;
  p1.recovery_succeeded = true;
  auto p2 = p1;
  p2.id = ids_.next(kNow / 1000);
  p2.recovery_succeeded = false;
  rows.push_back(p1);
  rows.push_back(p2);
  rows.push_back(miss(kNow + 20, "timeout after 3000ms"));
  rows.push_back(miss(kNow + 21, "timeout after 5000ms"));
  rows.push_back(miss(kNow + 22, "timeout after 7000ms"));
  rows.push_back(miss(kNow + 23, "disk quota exceeded", "DISK"));
  rows.push_back(record(kNow - 100 * kMicrosPerHour));  // outside the window
  rows.push_back(record(kNow + 30, kTenantB));          // other tenant
  insert(rows);

  StatsQuery q;
  q.since = kNow - kMicrosPerHour;
  auto stats = store_->stats(TenantScope::only(kTenantA), q);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->total, 12);
  EXPECT_EQ(stats->matched, 8);
  EXPECT_EQ(stats->missed, 4);
  EXPECT_EQ(stats->recovery_attempted, 2);
  EXPECT_EQ(stats->recovery_succeeded, 1);
  EXPECT_EQ(stats->recovery_failed, 1);
  EXPECT_EQ(stats->recovery_pending, 11);
  EXPECT_EQ(stats->by_category.at("rate_limit"), 6);
  EXPECT_EQ(stats->by_category.at("timeout"), 2);
  EXPECT_EQ(stats->by_severity.at("high"), 2);
  EXPECT_EQ(stats->by_match_type.at("exact"), 6);
  EXPECT_EQ(stats->by_match_type.at("miss"), 4);
  ASSERT_FALSE(stats->top_error_codes.empty());
  EXPECT_EQ(stats->top_error_codes[0].key, "RATE_LIMITED");
  EXPECT_EQ(stats->top_error_codes[0].count, 6);
  ASSERT_EQ(stats->top_unmatched.size(), 2u);
  EXPECT_EQ(stats->top_unmatched[0].signature, "timeout after <num>ms");
  EXPECT_EQ(stats->top_unmatched[0].count, 3);
  EXPECT_EQ(stats->top_unmatched[0].error_code, "WEIRD_THING");
  EXPECT_EQ(stats->top_unmatched[1].count, 1);

  auto everyone = store_->stats(TenantScope::all(), q);
  ASSERT_TRUE(everyone.ok());
  EXPECT_EQ(everyone->total, 13);
  StatsQuery only_b = q;
  only_b.tenant_id = kTenantB;
  EXPECT_EQ(store_->stats(TenantScope::all(), only_b)->total, 1);
}

TEST_P(StoreContract, TopUnmatchedSamplesTheMostFrequentMessageAndBreaksTiesByBytes) {
  // One signature ("retry <num> failed", case folded): three variants once each, and one in
  // other case twice — the most frequent message, whichever way a store groups first.
  std::vector<FailureRecord> rows;
  for (int i = 1; i <= 3; ++i) {
    rows.push_back(miss(kNow + i, "retry " + std::to_string(i) + " failed", "X_ERR"));
  }
  for (int i = 0; i < 2; ++i) rows.push_back(miss(kNow + 10 + i, "Retry 1 failed", "X_ERR"));
  // Codes tied on count: the smaller by bytes first (upper case before lower, whatever the
  // database's locale says).
  for (const char* code : {"b_err", "Z_ERR", "a_err"}) {
    rows.push_back(miss(kNow + 20, std::string("gone ") + code, code));
  }
  insert(rows);
  auto stats = last_hour_stats(10);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_GE(stats->top_unmatched.size(), 1u);
  EXPECT_EQ(stats->top_unmatched[0].count, 5);
  EXPECT_EQ(stats->top_unmatched[0].sample_message, "Retry 1 failed");
  std::vector<std::string> codes;
  for (const auto& c : stats->top_error_codes) codes.push_back(c.key);
  EXPECT_EQ(codes, (std::vector<std::string>{"X_ERR", "Z_ERR", "a_err", "b_err"}));
}

TEST_P(StoreContract, TopUnmatchedCountsIdVariantsPastTheGroupCap) {
  // More variants than the stores fetch groups of, differing in UUIDs, hex ids joined by an
  // underscore, and case: each signature counts every one of them.
  std::vector<FailureRecord> rows;
  constexpr int kVariants = 6'000;
  char hex[13];
  UuidV7Generator ids(7);
  for (int i = 0; i < kVariants; ++i) {
    std::snprintf(hex, sizeof hex, "%06xa%05x", (static_cast<unsigned>(i) * 2'654'435u) % 0xffffffu,
                  static_cast<unsigned>(i));
    rows.push_back(miss(kNow + i, "Session " + ids.next(kNow / 1000) + " expired", "Z_X"));
    rows.push_back(miss(
        kNow + i, (i % 2 ? "REQUEST req_" : "request req_") + std::string(hex) + " failed", "A_X"));
  }
  rows.push_back(miss(kNow, "disk quota exceeded", "DISK"));
  insert(rows);
  auto stats = last_hour_stats(10);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_EQ(stats->top_unmatched.size(), 3u);
  EXPECT_EQ(stats->top_unmatched[0].signature, "request req_<hex> failed");
  EXPECT_EQ(stats->top_unmatched[0].count, kVariants);
  EXPECT_EQ(stats->top_unmatched[1].signature, "session <uuid> expired");
  EXPECT_EQ(stats->top_unmatched[1].count, kVariants);
  EXPECT_EQ(stats->top_unmatched[2].count, 1);
}

TEST_P(StoreContract, TopUnmatchedCountsLongMessagesWithIdsPastTheGroupCap) {
  // Messages longer than the tokenizer reads (4 KiB: a stack trace, a provider's error body),
  // each with its own id: one signature, however many variants.
  std::vector<FailureRecord> rows;
  constexpr int kVariants = 5'100;
  UuidV7Generator ids(11);
  const std::string tail = " failed: " + std::string(4'200, 'x');
  for (int i = 0; i < kVariants; ++i) {
    rows.push_back(miss(kNow + i, "Worker job " + ids.next(kNow / 1000) + tail, "JOB_FAILED"));
  }
  insert(rows);
  auto stats = last_hour_stats(10);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_EQ(stats->top_unmatched.size(), 1u);
  EXPECT_EQ(stats->top_unmatched[0].signature, "worker job <uuid> failed <long>");
  EXPECT_EQ(stats->top_unmatched[0].count, kVariants);

  // A longer message that is not ASCII in its first 4 KiB keys as itself: two signatures
  // never share a key (folding digits alone would make "0x1f" and "1x1f" one).
  const std::string body = " " + std::string(4'200, 'y');
  const std::string hex_one = "\xc3\xa9 addr 0x1f" + body;
  const std::string num_one = "\xc3\xa9 addr 1x1f" + body;
  ASSERT_NE(message_signature(hex_one), message_signature(num_one));
  insert({miss(kNow + 1, hex_one, "ADDR"), miss(kNow + 2, num_one, "ADDR"),
          miss(kNow + 3, num_one, "ADDR")});
  auto mixed = last_hour_stats(10);
  ASSERT_TRUE(mixed.ok()) << mixed.error().message;
  std::map<std::string, std::int64_t> addr;
  for (const auto& u : mixed->top_unmatched) {
    if (u.error_code == "ADDR") addr[u.signature] = u.count;
  }
  EXPECT_EQ(addr.size(), 2u);
  EXPECT_EQ(addr[message_signature(hex_one)], 1);
  EXPECT_EQ(addr[message_signature(num_one)], 2);
}

TEST_P(StoreContract, TopUnmatchedCountsEachSignatureExactly) {
  // Messages where a grouping coarser than the signature would merge two signatures: ids
  // where the tokenizer does not mask them (joined to letters, non-ASCII, too short, digits
  // alone), case beyond ASCII, punctuation. The store's counts must equal the signatures'.
  const std::string id = "0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
  const std::string id2 = "0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0c";
  const std::string e = "\xc3\xa9";  // é
  const std::vector<std::string> messages = {
      "job " + id + " failed", "job " + id2 + " failed", "job x" + id + " failed",
      "job x" + id2 + " failed", "job " + e + id + " failed", "job " + e + id2 + " failed",
      "job " + id + "x failed", "job " + id2 + "x failed", "job _" + id + "_ failed",
      "hex abc123 here", "hex abc124 here", "hex abc12 here", "hex abd12 here", "hex abc123g here",
      "hex abc124g here", "hex 0xff here", "hex 0xfe here", "hex 0x here", "hex 0xg1 here",
      "num 123456 here", "num 654321 here", "num 12a here", "num 13b here",
      "\xc3\x89T\xc3\x89 down", "\xc3\xa9t\xc3\xa9 down", "Case Down", "case down", "case,down",
      "case  down", "tool_call_" + id, "tool_call_" + id2, "tool_call_abc123", "tool_call_x",
      // The tokenizer reads 4,096 bytes: ids cut there
      // are not ids to it.
      std::string(4091, 'a') + " abc123", std::string(4091, 'a') + " ab12cd",
      // Control characters a placeholder might be
      // mistaken for.
      "\x01h here", "\x01u here", "abc123 here", id + " here",
      // Capitals beside ids in a non-ASCII message.
      "\xc3\x9c"
      "berlauf: ID1234abcd",
      "\xc3\x9c"
      "berlauf: ID5678beef",
      "\xc3\x9c"
      "berlauf: id9999abcd",
      e + " REQ" + id, e + " REQ" + id2};
  std::vector<FailureRecord> rows;
  std::vector<UnmatchedMessageCount> exact;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const int times = 1 + static_cast<int>(i % 3);
    for (int k = 0; k < times; ++k) {
      rows.push_back(miss(kNow + static_cast<Micros>(i * 10 + k), messages[i], "MIXED"));
    }
    exact.push_back({"MIXED", messages[i], times});
  }
  insert(rows);
  auto stats = last_hour_stats(100);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  std::map<std::string, std::int64_t> got, want;
  for (const auto& s : stats->top_unmatched) got[s.signature] = s.count;
  for (const auto& s : group_unmatched(exact, 100)) want[s.signature] = s.count;
  EXPECT_EQ(got, want);
  EXPECT_GT(want.size(), 15u);
}

TEST_P(StoreContract, TopUnmatchedCountsEveryVariantOfASignature) {
  // More distinct messages of one signature than the stores fetch groups of, in shuffled
  // order, then a rarer signature and misses without a message under two codes.
  std::vector<FailureRecord> rows;
  constexpr int kVariants = 6'000;
  for (int i = 0; i < kVariants; ++i) {
    const int n = (i * 7'919) % kVariants;
    rows.push_back(miss(kNow + i, "timeout after " + std::to_string(n) + "ms",
                        n % 3 == 0 ? "TIMEOUT_A" : "TIMEOUT_B"));
  }
  for (int i = 0; i < 5; ++i) rows.push_back(miss(kNow + 7'000 + i, "disk quota exceeded", "DISK"));
  for (int i = 0; i < 4; ++i) {
    auto r = miss(kNow + 8'000 + i, "", "NO_TEXT_A");
    if (i == 0) r.error_message.reset();  // NULL and '' both mean "no message"
    rows.push_back(std::move(r));
  }
  for (int i = 0; i < 3; ++i) rows.push_back(miss(kNow + 9'000 + i, "", "NO_TEXT_B"));
  insert(rows);

  auto stats = last_hour_stats(10);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_EQ(stats->top_unmatched.size(), 4u);
  const auto& top = stats->top_unmatched;
  EXPECT_EQ(top[0].signature, "timeout after <num>ms");
  EXPECT_EQ(top[0].count, kVariants);
  EXPECT_EQ(top[0].error_code, "TIMEOUT_B");  // two thirds of the variants
  EXPECT_EQ(top[0].sample_message.rfind("timeout after ", 0), 0u) << top[0].sample_message;
  EXPECT_EQ(top[1].signature, "disk quota exceeded");
  EXPECT_EQ(top[1].count, 5);
  EXPECT_EQ(top[1].sample_message, "disk quota exceeded");
  // Failures without a message: one entry per code, not one for all of them.
  EXPECT_EQ(top[2].signature, "");
  EXPECT_EQ(top[2].error_code, "NO_TEXT_A");
  EXPECT_EQ(top[2].count, 4);
  EXPECT_EQ(top[3].signature, "");
  EXPECT_EQ(top[3].error_code, "NO_TEXT_B");
  EXPECT_EQ(top[3].count, 3);
}

TEST_P(StoreContract, StatsEqualDirectCountsOfAKnownDataSet) {
  // Every combination of the columns stats group or count by, some outside the window or of
  // another tenant; the expected figures are counted here, row by row.
  const std::vector<std::optional<std::string>> categories = {"rate_limit", "timeout",
                                                              std::nullopt};
  const std::vector<std::optional<std::string>> severities = {"high", "low", std::nullopt};
  const std::vector<std::optional<std::string>> match_types = {"exact", "prefix", std::nullopt};
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 162; ++i) {
    const Micros at = kNow - (i % 5 == 0 ? 30 : 1) * kMicrosPerHour + i;
    auto r = record(at, i % 7 == 0 ? kTenantB : kTenantA, "CODE_" + std::to_string(i % 4));
    r.category = categories[i % 3];
    r.severity = severities[(i / 3) % 3];
    r.match_type = match_types[(i / 9) % 3];
    if (i % 6 == 1) r.catalog_entry_id.reset();
    r.recovery_attempted = (i / 2) % 2 == 0;
    r.recovery_succeeded = r.recovery_attempted && i % 3 == 0;
    rows.push_back(std::move(r));
  }
  insert(rows);

  StatsQuery q;
  q.since = kNow - 24 * kMicrosPerHour;
  for (const auto& scope : {TenantScope::all(), TenantScope::only(kTenantA)}) {
    FailureStats want;
    std::map<std::string, std::int64_t> codes;
    for (const auto& r : rows) {
      if (r.created_at < q.since || !scope.admits(r.tenant_id)) continue;
      ++want.total;
      ++(r.catalog_entry_id ? want.matched : want.missed);
      if (r.recovery_attempted) ++want.recovery_attempted;
      if (r.recovery_succeeded) ++want.recovery_succeeded;
      if (r.recovery_attempted && !r.recovery_succeeded) ++want.recovery_failed;
      if (!r.recovery_succeeded) ++want.recovery_pending;
      if (r.category) ++want.by_category[*r.category];
      if (r.severity) ++want.by_severity[*r.severity];
      if (r.match_type) ++want.by_match_type[*r.match_type];
      ++codes[r.error_code];
    }
    auto got = store_->stats(scope, q);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->total, want.total);
    EXPECT_EQ(got->matched, want.matched);
    EXPECT_EQ(got->missed, want.missed);
    EXPECT_EQ(got->recovery_attempted, want.recovery_attempted);
    EXPECT_EQ(got->recovery_succeeded, want.recovery_succeeded);
    EXPECT_EQ(got->recovery_failed, want.recovery_failed);
    EXPECT_EQ(got->recovery_pending, want.recovery_pending);
    EXPECT_EQ(got->by_category, want.by_category);
    EXPECT_EQ(got->by_severity, want.by_severity);
    EXPECT_EQ(got->by_match_type, want.by_match_type);
    std::vector<CountByKey> want_codes;
    for (const auto& [code, n] : codes) want_codes.push_back({code, n});
    std::sort(want_codes.begin(), want_codes.end(), [](const auto& a, const auto& b) {
      return a.count != b.count ? a.count > b.count : a.key < b.key;
    });
    ASSERT_EQ(got->top_error_codes.size(), want_codes.size());
    for (std::size_t i = 0; i < want_codes.size(); ++i) {
      EXPECT_EQ(got->top_error_codes[i].key, want_codes[i].key);
      EXPECT_EQ(got->top_error_codes[i].count, want_codes[i].count);
    }
  }
}

TEST_P(StoreContract, ListTotalIsExactUpToItsLimit) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 7; ++i) rows.push_back(record(kNow + i * kMicrosPerSecond));
  rows.push_back(record(kNow + 10 * kMicrosPerSecond, kTenantB));
  insert(rows);

  const auto list = [&](std::int64_t total_limit, std::optional<ListCursor> after = {},
                        FailureFilter filter = {}) {
    ListQuery q;
    q.filter = std::move(filter);
    q.limit = 3;
    q.after = std::move(after);
    q.total_limit = total_limit;
    auto page = store_->list(TenantScope::all(), q);
    EXPECT_TRUE(page.ok());
    return *page;
  };
  auto first = list(kListTotalLimit);
  EXPECT_EQ(first.total, 8);
  EXPECT_TRUE(first.total_exact);
  EXPECT_EQ(list(8).total, 8);
  EXPECT_TRUE(list(8).total_exact);
  // More rows match than the limit: total is the limit, flagged inexact, on every page.
  auto capped = list(5);
  EXPECT_EQ(capped.total, 5);
  EXPECT_FALSE(capped.total_exact);
  EXPECT_EQ(capped.items.size(), 3u);
  ASSERT_TRUE(capped.next.has_value());
  auto second = list(5, capped.next);
  EXPECT_EQ(second.total, 5);
  EXPECT_FALSE(second.total_exact);
  EXPECT_EQ(second.items.size(), 3u);
  EXPECT_EQ(list(kListTotalLimit, capped.next).total, 8);
  EXPECT_TRUE(list(kListTotalLimit, capped.next).total_exact);
  // A filter that narrows below the limit is exact again.
  FailureFilter only_b;
  only_b.tenant_id = kTenantB;
  auto narrow = list(5, std::nullopt, only_b);
  EXPECT_EQ(narrow.total, 1);
  EXPECT_TRUE(narrow.total_exact);
  EXPECT_EQ(list(0).total, 0);
  EXPECT_FALSE(list(0).total_exact);
}

TEST_P(StoreContract, AggregatesRollUpHourlyAndRerunReplaces) {
  const Micros hour = floor_hour(kNow);
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 4; ++i) rows.push_back(record(hour + i * kMicrosPerSecond));
  auto recovered = record(hour + 10 * kMicrosPerSecond);
  recovered.recovery_succeeded = true;
  rows.push_back(recovered);
  rows.push_back(record(hour + kMicrosPerHour + 5, kTenantB));
  rows.push_back(miss(hour + 20 * kMicrosPerSecond, "no idea"));
  insert(rows);

  auto written = store_->rollup_aggregates(hour, hour + 2 * kMicrosPerHour, kNow);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(*written, 3);
  auto again = store_->rollup_aggregates(hour, hour + 2 * kMicrosPerHour, kNow);
  ASSERT_TRUE(again.ok());
  AggregateQuery q;
  q.since = hour;
  auto all = store_->aggregates(TenantScope::all(), q);
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  std::int64_t total = 0;
  for (const auto& a : *all) total += a.failure_count;
  EXPECT_EQ(total, 7);
  auto a_only = store_->aggregates(TenantScope::only(kTenantA), q);
  ASSERT_TRUE(a_only.ok());
  ASSERT_EQ(a_only->size(), 2u);
  for (const auto& a : *a_only) {
    EXPECT_EQ(a.bucket_start, hour);
    if (a.match_type == "exact") {
      EXPECT_EQ(a.failure_count, 5);
      EXPECT_EQ(a.recovered_count, 1);
      EXPECT_EQ(a.catalog_entry_id, "llm_rate_limit");
    } else {
      EXPECT_EQ(a.match_type, "miss");
      EXPECT_EQ(a.catalog_entry_id, "");
      EXPECT_EQ(a.failure_count, 1);
    }
  }
  // One hour alone: the tenant B row starts the next hour.
  q.until = hour + kMicrosPerHour;
  auto first_hour = store_->aggregates(TenantScope::all(), q);
  ASSERT_TRUE(first_hour.ok()) << first_hour.error().message;
  EXPECT_EQ(first_hour->size(), 2u);
  for (const auto& a : *first_hour) EXPECT_EQ(a.bucket_start, hour);
}

TEST_P(StoreContract, HoursRecoveredWithinNameTheHoursOfRecentChanges) {
  const bool pg = GetParam() == "postgres";
  const Micros day_ago = floor_hour(kNow) - 24 * kMicrosPerHour;
  const Micros week_ago = floor_hour(kNow) - 7 * 24 * kMicrosPerHour;
  const Micros older = day_ago - 5 * kMicrosPerHour;
  std::vector<FailureRecord> rows{record(week_ago + 5), record(week_ago + 7, kTenantB),
                                  record(day_ago + 61 * kMicrosPerSecond), record(kNow),
                                  record(older)};
  insert(rows);
  const auto recover = [&](const FailureRecord& r) {
    RecoveryUpdate u;
    u.recovery_succeeded = true;
    u.at = kNow;  // when it was asked for; the lookup goes by when the store recorded it
    ASSERT_TRUE(store_->update_recovery(TenantScope::all(), r.id, u, std::nullopt).ok());
  };
  recover(rows[2]);
  recover(rows[1]);  // another tenant: the lookup spans all of them
  recover(rows[0]);
  // A change the store recorded two days ago.
  const std::string two_days_ago = format_rfc3339(SystemClock().now() - 48 * kMicrosPerHour);
  backend_->exec_raw(
      "INSERT INTO failure_recovery_events (failure_id, tenant_id, actor, old_attempted, "
      "old_succeeded, new_attempted, new_succeeded, at, recorded_at) VALUES ('" +
      rows[4].id + "', '" + rows[4].tenant_id + "', 'bob', " +
      (pg ? "false, false, true, true, '" : "0, 0, 1, 1, '") + two_days_ago + "', '" +
      two_days_ago + "')");

  auto recent = store_->hours_recovered_within(kMicrosPerHour, 100);
  ASSERT_TRUE(recent.ok()) << recent.error().message;
  EXPECT_EQ(*recent, (std::vector<Micros>{week_ago, day_ago}));  // each hour once, oldest first
  auto three_days = store_->hours_recovered_within(72 * kMicrosPerHour, 100);
  ASSERT_TRUE(three_days.ok());
  EXPECT_EQ(*three_days, (std::vector<Micros>{week_ago, older, day_ago}));
  EXPECT_EQ(*store_->hours_recovered_within(72 * kMicrosPerHour, 2),
            (std::vector<Micros>{older, day_ago}));  // the newest ones
  EXPECT_TRUE(store_->hours_recovered_within(0, 100)->empty());
}

TEST_P(StoreContract, RetentionDeletesOldRowsInBatches) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 7; ++i) rows.push_back(record(kNow - 40 * 24 * kMicrosPerHour + i));
  rows.push_back(record(kNow));
  insert(rows);
  RecoveryUpdate u;
  u.recovery_succeeded = true;
  u.at = kNow;
  ASSERT_TRUE(store_->update_recovery(TenantScope::all(), rows[0].id, u, std::nullopt).ok());
  const Micros cutoff = kNow - 30 * 24 * kMicrosPerHour;
  EXPECT_EQ(*store_->delete_older_than(cutoff, 3), 3);
  EXPECT_EQ(*store_->delete_older_than(cutoff, 3), 3);
  EXPECT_EQ(*store_->delete_older_than(cutoff, 3), 1);
  EXPECT_EQ(*store_->delete_older_than(cutoff, 3), 0);
  EXPECT_EQ(store_->list(TenantScope::all(), ListQuery{})->total, 1);
  EXPECT_EQ(backend_->query_int("SELECT count(*) FROM failure_recovery_events"), 0);
}

TEST_P(StoreContract, RetentionDeletesOldIdempotencyKeysInBatchesToo) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 7; ++i) {
    rows.push_back(record(kNow - 40 * 24 * kMicrosPerHour + i));
    rows.back().idempotency_key = "old-" + std::to_string(i);
  }
  rows.push_back(record(kNow));
  rows.back().idempotency_key = "new";
  insert(rows);
  ASSERT_EQ(backend_->query_int("SELECT count(*) FROM failure_idempotency"), 8);
  const Micros cutoff = kNow - 30 * 24 * kMicrosPerHour;
  EXPECT_EQ(*store_->delete_older_than(cutoff, 3), 3);
  // At most the batch plus the keys of the failures it deleted: 6 of the 7 old keys.
  EXPECT_EQ(backend_->query_int("SELECT count(*) FROM failure_idempotency"), 2);
  while (*store_->delete_older_than(cutoff, 3) > 0) {
  }
  EXPECT_EQ(backend_->query_int("SELECT count(*) FROM failure_idempotency"), 1);
}

TEST_P(StoreContract, PingWorks) {
  EXPECT_TRUE(store_->ping().ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

/// A directory of its own under the system's temporary one, removed with the object.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "failcat-sqlite-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// `failcat migrate --status` looks: on a path with no database yet it lists every migration as
// pending and creates neither the directory, the file, nor (on an empty file) a table.
TEST(SqliteStore, AStatusChangesNothing) {
  ScratchDirectory dir;
  StoreOptions options;
  options.sqlite_path = (dir.path() / "not-yet" / "failcat.db").string();
  auto store = make_sqlite_store(options);
  auto status = store->migration_status();
  ASSERT_TRUE(status.ok()) << status.error().message;
  ASSERT_EQ(status->size(), sqlite_migrations().size());
  for (const auto& m : *status) EXPECT_FALSE(m.applied) << m.version;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "not-yet"));

  options.sqlite_path = (dir.path() / "empty.db").string();
  { std::ofstream touch(options.sqlite_path); }
  auto on_empty = make_sqlite_store(options)->migration_status();
  ASSERT_TRUE(on_empty.ok()) << on_empty.error().message;
  for (const auto& m : *on_empty) EXPECT_FALSE(m.applied) << m.version;
  EXPECT_EQ(std::filesystem::file_size(options.sqlite_path), 0u);  // not made a WAL database
  EXPECT_FALSE(std::filesystem::exists(options.sqlite_path + "-wal"));
  auto empty = make_sqlite_store(options);
  ASSERT_TRUE(empty->migrate(1).ok());
  auto after_one = empty->migration_status();
  ASSERT_TRUE(after_one.ok());
  EXPECT_TRUE(after_one->front().applied);
  EXPECT_FALSE(after_one->back().applied);
  // A store not yet open reads a migrated file's status through its own read-only connection.
  empty.reset();
  auto reread = make_sqlite_store(options)->migration_status();
  ASSERT_TRUE(reread.ok()) << reread.error().message;
  EXPECT_TRUE(reread->front().applied);
  EXPECT_FALSE(reread->back().applied);
}

// The -wal file grows to the largest transaction; after the next checkpoint it is cut back
// instead of keeping that size on disk for ever.
TEST(SqliteStore, TheWalFileShrinksAfterABigTransaction) {
  ScratchDirectory dir;
  StoreOptions options;
  options.sqlite_path = (dir.path() / "failcat.db").string();
  auto store = make_sqlite_store(options);
  ASSERT_TRUE(store->migrate().ok());
  UuidV7Generator ids(7);
  auto row = [&](Micros at) {
    FailureRecord r = plain_row(ids, at);
    r.run_id = "run-" + std::to_string(at % 97);
    r.error_code = "E" + std::to_string(at % 13);
    r.error_message = std::string(4000, 'x') + std::to_string(at);
    return r;
  };
  std::vector<FailureRecord> big;
  for (int i = 0; i < 8000; ++i) big.push_back(row(kNow + i));
  ASSERT_TRUE(store->insert_batch(big).ok());
  const auto wal = dir.path() / "failcat.db-wal";
  ASSERT_GT(std::filesystem::file_size(wal), 32u << 20) << "the batch did not grow the log";
  // SQLite cuts the file at the first write after a checkpoint that reached its end.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->insert_batch({row(kNow + 10'000 + i)}).ok());
  EXPECT_LE(std::filesystem::file_size(wal), 16u << 20);
}

TEST(StoreErrors, UnreachablePostgresIsAnErrorValue) {
  StoreOptions options;
  options.database_url = "postgresql://failcat@127.0.0.1:1/none?connect_timeout=2";
  auto store = open_store(options);
  ASSERT_TRUE(store.ok());
  auto result = (*store)->list(TenantScope::all(), ListQuery{});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, ErrorKind::unavailable);
  EXPECT_FALSE((*store)->ping().ok());
  EXPECT_FALSE((*store)->migrate().ok());
}

TEST(StoreErrors, UnwritableSqlitePathIsAnErrorValue) {
  StoreOptions options;
  options.sqlite_path = "/proc/failcat-cannot-exist/x.db";
  auto store = open_store(options);
  ASSERT_TRUE(store.ok());
  auto result = (*store)->migrate();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, ErrorKind::unavailable);
}

TEST(StoreFactory, RedactsPasswords) {
  EXPECT_EQ(redact_database_url("postgresql://user:s3cret@db:5432/x"),
            "postgresql://user:***@db:5432/x");
  EXPECT_EQ(redact_database_url("host=db password=s3cret user=u"), "host=db password=*** user=u");
  EXPECT_EQ(redact_database_url("postgresql://db/x?password=s3cret&sslmode=require"),
            "postgresql://db/x?password=***&sslmode=require");
  EXPECT_FALSE(open_store(StoreOptions{"mysql://x", "", 1000, "t"}).ok());
}

TEST(StoreFactory, ConnectionsGetNetworkTimeoutsTheUrlDoesNotSet) {
  const auto has = [](const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
  };
  // A URI, its parts as libpq reads them (a percent-encoded `?` in the password stays one).
  std::string c = with_network_timeouts("postgresql://u:p%3Fq@db:5433/x?sslmode=require");
  for (const char* part :
       {"user='u'", "password='p?q'", "host='db'", "port='5433'", "dbname='x'", "sslmode='require'",
        "connect_timeout='10'", "keepalives_idle='30'", "keepalives_interval='10'",
        "keepalives_count='3'", "tcp_user_timeout='60000'"}) {
    EXPECT_TRUE(has(c, part)) << part << " in " << c;
  }
  // What the URL sets stays as it is, once; quotes and backslashes are escaped.
  c = with_network_timeouts("host=db keepalives_idle=5 password='a\\'b\\\\c'");
  EXPECT_TRUE(has(c, "keepalives_idle='5'")) << c;
  EXPECT_FALSE(has(c, "keepalives_idle='30'")) << c;
  EXPECT_TRUE(has(c, "password='a\\'b\\\\c'")) << c;
  EXPECT_TRUE(has(c, "tcp_user_timeout='60000'")) << c;
  c = with_network_timeouts("postgres://db/x?");
  EXPECT_TRUE(has(c, "dbname='x'") && has(c, "connect_timeout='10'")) << c;
  // A service file may set them; what libpq cannot parse is left for it to report.
  EXPECT_EQ(with_network_timeouts("service=failcat"), "service=failcat");
  EXPECT_EQ(with_network_timeouts("host=db nosuchoption=1"), "host=db nosuchoption=1");
}

}  // namespace
}  // namespace failcat

// ---- Behaviour pinned beyond the first contract: batches larger than one INSERT, and a
// PostgreSQL session that dies under the store.
#include <unistd.h>

#include <pqxx/pqxx>

namespace failcat {
namespace {

TEST_P(StoreContract, LargeBatchSpansChunksAndAKeyKeepsItsFirstOwner) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 1200; ++i) rows.push_back(record(kNow + i));
  rows[10].idempotency_key = "evt-dup";
  rows[1100].idempotency_key = "evt-dup";  // same key, another failure, a later chunk
  rows.push_back(rows[5]);                 // the same failure twice in one batch
  auto inserted = store_->insert_batch(rows);
  ASSERT_TRUE(inserted.ok()) << inserted.error().message;
  EXPECT_EQ(*inserted, 1200u);  // each failure once; the later one of the key is stored too
  EXPECT_EQ(store_->list(TenantScope::all(), ListQuery{})->total, 1200);
  auto owner = store_->find_by_idempotency_key(kTenantA, "evt-dup");
  ASSERT_TRUE(owner.ok() && owner->has_value());
  EXPECT_EQ((*owner)->id, rows[10].id);
  EXPECT_TRUE(store_->get(TenantScope::all(), rows[1100].id)->has_value());
}

/// The test server's URL, or nullptr: then the test skips, and fails as well when
/// FAILCAT_REQUIRE_POSTGRES=1 asks for PostgreSQL.
const char* postgres_test_url() {
  const char* base = std::getenv("FAILCAT_TEST_DATABASE_URL");
  if (base != nullptr && *base != '\0') return base;
  const char* require = std::getenv("FAILCAT_REQUIRE_POSTGRES");
  if (require != nullptr && std::string(require) == "1") ADD_FAILURE() << "no test database";
  return nullptr;
}

/// A schema of its own on the test server, so a test can choose the store's options.
class ScratchPostgresSchema {
 public:
  ScratchPostgresSchema(std::string base_url, std::string name)
      : base_url_(std::move(base_url)), name_(std::move(name)) {
    exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE; CREATE SCHEMA " + name_);
  }
  ~ScratchPostgresSchema() {
    try {
      exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    } catch (const std::exception&) {
      // A uniquely named schema left behind harms no other test.
    }
  }
  std::string url() const {
    const char sep = base_url_.find('?') == std::string::npos ? '?' : '&';
    return base_url_ + sep + "options=-csearch_path%3D" + name_;
  }
  long long query_int(const std::string& sql) const {
    pqxx::connection c(base_url_);
    pqxx::work tx(c);
    const long long value = tx.exec1(sql)[0].as<long long>();
    tx.commit();
    return value;
  }
  /// Runs SQL inside the schema (its tables by their bare names).
  void exec_sql(const std::string& sql) const {
    pqxx::connection c(url());
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }
  std::string query_text(const std::string& sql) const {
    pqxx::connection c(url());
    pqxx::work tx(c);
    const auto field = tx.exec1(sql)[0];
    std::string value = field.is_null() ? "" : field.as<std::string>();
    tx.commit();
    return value;
  }

 private:
  void exec(const std::string& sql) const {
    pqxx::connection c(base_url_);
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }
  std::string base_url_;
  std::string name_;
};

// A session killed server-side (failover, idle timeout, an operator) is noticed by the next
// call, which reconnects with the same session settings and still succeeds.
TEST(PostgresStore, NextCallSucceedsAfterItsSessionIsTerminated) {
  const char* base = postgres_test_url();
  if (base == nullptr) GTEST_SKIP() << "FAILCAT_TEST_DATABASE_URL is not set";
  const std::string tag = std::to_string(getpid());
  ScratchPostgresSchema schema(base, "fc_reconnect_" + tag);
  StoreOptions options;
  options.database_url = schema.url();
  options.application_name = "failcat-reconnect-" + tag;
  auto store = make_postgres_store(options);
  ASSERT_TRUE(store->migrate().ok());
  UuidV7Generator ids(99);
  auto row = [&](Micros at) { return plain_row(ids, at); };
  ASSERT_TRUE(store->insert_batch({row(kNow)}).ok());

  const std::string sessions =
      "FROM pg_stat_activity WHERE application_name = '" + options.application_name + "'";
  EXPECT_EQ(schema.query_int("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) " +
                             sessions),
            1);

  auto after = store->insert_batch({row(kNow + 1)});
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(*after, 1u);
  EXPECT_EQ(store->list(TenantScope::all(), ListQuery{})->total, 2);
  EXPECT_EQ(schema.query_int("SELECT count(*) " + sessions), 1);
}

// A statement held up past statement_timeout (here by a lock) is `unavailable`, worth a retry,
// and leaves the connection usable.
TEST(PostgresStore, StatementTimeoutIsUnavailableAndTheStoreRecovers) {
  const char* base = postgres_test_url();
  if (base == nullptr) GTEST_SKIP() << "FAILCAT_TEST_DATABASE_URL is not set";
  ScratchPostgresSchema schema(base, "fc_timeout_" + std::to_string(getpid()));
  StoreOptions options;
  options.database_url = schema.url();
  options.statement_timeout_ms = 200;
  auto store = make_postgres_store(options);
  ASSERT_TRUE(store->migrate().ok());
  {
    pqxx::connection locker(schema.url());
    pqxx::work hold(locker);
    hold.exec("LOCK TABLE failure_matches IN ACCESS EXCLUSIVE MODE");
    auto blocked = store->list(TenantScope::all(), ListQuery{});
    ASSERT_FALSE(blocked.ok());
    EXPECT_EQ(blocked.error().kind, ErrorKind::unavailable) << blocked.error().message;
  }
  auto after = store->list(TenantScope::all(), ListQuery{});
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->total, 0);
}

// A migration that needs a lock another session holds (another node's long transaction)
// gives up within seconds instead of queueing every later statement on that table behind it,
// answers `unavailable`, and applies once the lock is gone.
TEST(PostgresStore, AMigrationWaitingForALockStepsAside) {
  const char* base = postgres_test_url();
  if (base == nullptr) GTEST_SKIP() << "FAILCAT_TEST_DATABASE_URL is not set";
  ScratchPostgresSchema schema(base, "fc_miglock_" + std::to_string(getpid()));
  StoreOptions options;
  options.database_url = schema.url();
  auto store = make_postgres_store(options);
  ASSERT_TRUE(store->migrate(6).ok());  // 7 alters failure_recovery_events
  {
    pqxx::connection holder(schema.url());
    pqxx::work hold(holder);
    hold.exec("SELECT count(*) FROM failure_recovery_events");  // ACCESS SHARE until the end
    auto blocked = std::async(std::launch::async, [&] { return store->migrate(); });
    const bool gave_up = blocked.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
    hold.abort();  // the lock goes either way, so a migration still waiting ends too
    const auto result = blocked.get();
    ASSERT_TRUE(gave_up) << "the migration waited for the lock for a minute";
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().kind, ErrorKind::unavailable) << result.error().message;
    EXPECT_NE(result.error().message.find("lock timeout"), std::string::npos)
        << result.error().message;
  }
  auto applied = store->migrate();
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ(*applied, std::vector<int>{7});
}

// A migration while another process holds the migration lock (another node migrating, a
// session stuck holding it) waits a bounded time, answers `unavailable` saying why, and
// applies once the lock is free.
TEST(PostgresStore, AMigrationWaitsForAnotherOnlySoLong) {
  const char* base = postgres_test_url();
  if (base == nullptr) GTEST_SKIP() << "FAILCAT_TEST_DATABASE_URL is not set";
  ScratchPostgresSchema schema(base, "fc_migwait_" + std::to_string(getpid()));
  StoreOptions options;
  options.database_url = schema.url();
  options.migration_lock_wait_ms = 300;
  auto store = make_postgres_store(options);
  {
    pqxx::connection holder(schema.url());
    pqxx::nontransaction hold(holder);
    hold.exec("SELECT pg_advisory_lock(" + std::to_string(0x6661696C636174) + ")");
    auto blocked = std::async(std::launch::async, [&] { return store->migrate(); });
    const bool gave_up = blocked.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
    // Released either way, so that a migration still waiting ends too.
    hold.exec("SELECT pg_advisory_unlock(" + std::to_string(0x6661696C636174) + ")");
    const auto result = blocked.get();
    ASSERT_TRUE(gave_up) << "the migration waited for the lock for a minute";
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().kind, ErrorKind::unavailable) << result.error().message;
    EXPECT_NE(result.error().message.find("another process is applying migrations"),
              std::string::npos)
        << result.error().message;
  }
  // With the default wait: another test's migration may hold the lock a few seconds.
  options.migration_lock_wait_ms = StoreOptions{}.migration_lock_wait_ms;
  auto applied = make_postgres_store(options)->migrate();
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_FALSE(applied->empty());
}

// The WAL is trimmed once a batch's commit returns, so the store's commits wait for the
// database's flush even where the server (or the URL) turns synchronous_commit off; a stronger
// setting is left as it is.
TEST(PostgresStore, CommitsAreDurableWhateverTheServerDefault) {
  const char* base = postgres_test_url();
  if (base == nullptr) GTEST_SKIP() << "FAILCAT_TEST_DATABASE_URL is not set";
  ScratchPostgresSchema schema(base, "fc_synccommit_" + std::to_string(getpid()));
  UuidV7Generator ids(5);
  auto row = [&](Micros at) { return plain_row(ids, at); };
  for (const auto& [asked, expected] :
       {std::pair{"off", "on"}, std::pair{"remote_apply", "remote_apply"}}) {
    SCOPED_TRACE(asked);
    StoreOptions options;
    options.database_url = schema.url() + "%20-csynchronous_commit%3D" + asked;
    auto store = make_postgres_store(options);
    ASSERT_TRUE(store->migrate().ok());
    // What the inserting session runs with, seen from inside it (COPY fires row triggers).
    schema.exec_sql(
        "CREATE TABLE IF NOT EXISTS seen_setting (value text);"
        "CREATE OR REPLACE FUNCTION note_setting() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO seen_setting VALUES (current_setting('synchronous_commit')); RETURN NEW; "
        "END $$;"
        "DROP TRIGGER IF EXISTS note ON failure_matches;"
        "CREATE TRIGGER note AFTER INSERT ON failure_matches FOR EACH ROW EXECUTE FUNCTION "
        "note_setting();"
        "DELETE FROM seen_setting;");
    ASSERT_TRUE(store->insert_batch({row(kNow)}).ok());
    EXPECT_EQ(schema.query_text("SELECT string_agg(DISTINCT value, ',') FROM seen_setting"),
              expected);
  }
}

/// Polls `store` for the leader lock for up to ten seconds (another test's store on the same
/// database may hold it a moment, and a released lock goes once its backend notices).
bool takes_leadership(FailureStore& store) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto attempt = store.try_acquire_leadership();
    if (attempt.ok() && *attempt) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The leader's session ends (failover, reset, terminated backend) and another node takes the
// lock: the former leader's next job call must not run on a new session as if it still led.
TEST(PostgresStore, ALeaderThatLostItsSessionRunsNoJobUntilItLeadsAgain) {
  const char* base = postgres_test_url();
  if (base == nullptr) GTEST_SKIP() << "FAILCAT_TEST_DATABASE_URL is not set";
  const std::string tag = std::to_string(getpid());
  ScratchPostgresSchema schema(base, "fc_leader_" + tag);
  StoreOptions options;
  options.database_url = schema.url();
  options.application_name = "failcat-leader-a-" + tag;
  auto a = make_postgres_store(options);
  ASSERT_TRUE(a->migrate().ok());
  ASSERT_TRUE(takes_leadership(*a));
  ASSERT_TRUE(a->rollup_aggregates(kNow - kMicrosPerHour, kNow, kNow).ok());

  EXPECT_EQ(schema.query_int("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                             "FROM pg_stat_activity WHERE application_name = '" +
                             options.application_name + "'"),
            1);
  options.application_name = "failcat-leader-b-" + tag;
  auto b = make_postgres_store(options);
  ASSERT_TRUE(takes_leadership(*b));

  auto rolled = a->rollup_aggregates(kNow - kMicrosPerHour, kNow, kNow);
  ASSERT_FALSE(rolled.ok()) << "a job ran on a session without the leader lock";
  EXPECT_EQ(rolled.error().kind, ErrorKind::unavailable);
  EXPECT_NE(rolled.error().message.find("leader lock"), std::string::npos)
      << rolled.error().message;
  EXPECT_FALSE(a->delete_older_than(kNow, 10).ok());
  auto again = a->try_acquire_leadership();
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(*again);

  b.reset();  // the lock goes with b's session
  ASSERT_TRUE(takes_leadership(*a));
  EXPECT_TRUE(a->rollup_aggregates(kNow - kMicrosPerHour, kNow, kNow).ok());
}

// A value the database cannot hold is `rejected` (the same rows never succeed), not an outage
// to wait out, and the connection goes on working.
TEST(PostgresStore, AValueTheDatabaseCannotHoldIsRejected) {
  const char* base = postgres_test_url();
  if (base == nullptr) GTEST_SKIP() << "FAILCAT_TEST_DATABASE_URL is not set";
  ScratchPostgresSchema schema(base, "fc_refused_" + std::to_string(getpid()));
  StoreOptions options;
  options.database_url = schema.url();
  auto store = make_postgres_store(options);
  ASSERT_TRUE(store->migrate().ok());
  UuidV7Generator ids;
  FailureRecord r;
  r.id = ids.next(kNow / 1000);
  r.run_id = "run-1";
  r.tenant_id = std::string(kDefaultTenant);
  r.error_code = "E";
  r.created_at = kNow;
  r.updated_at = kNow;
  r.idempotency_key = std::string(256, 'k');  // the key column holds 255 characters
  auto refused = store->insert_batch({r});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::rejected) << refused.error().message;
  r.idempotency_key = std::string(255, 'k');
  auto stored = store->insert_batch({r});
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(*stored, 1u);

  // A batch large enough for COPY, replaying a stored row (so COPY falls back to staging) and
  // holding one refused row: refused as a whole, nothing of it stored.
  std::vector<FailureRecord> batch{r};
  for (int i = 0; i < 19; ++i) {
    FailureRecord more = r;
    more.id = ids.next(kNow / 1000 + 1 + i);
    more.idempotency_key = "key-" + std::to_string(i);
    batch.push_back(more);
  }
  batch[7].idempotency_key = std::string(300, 'k');
  auto mixed = store->insert_batch(batch);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().kind, ErrorKind::rejected) << mixed.error().message;
  EXPECT_EQ(store->list(TenantScope::all(), ListQuery{})->total, 1);
  batch.erase(batch.begin() + 7);
  auto rest = store->insert_batch(batch);
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_EQ(*rest, 18u);
}

TEST(StoreErrors, ErrorMessagesNeverCarryThePassword) {
  StoreOptions options;
  options.database_url = "postgresql://failcat:s3cret-pw@127.0.0.1:1/none?connect_timeout=2";
  auto store = open_store(options);
  ASSERT_TRUE(store.ok());
  auto listed = (*store)->list(TenantScope::all(), ListQuery{});
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().message.find("s3cret-pw"), std::string::npos) << listed.error().message;
  auto migrated = (*store)->migrate();
  ASSERT_FALSE(migrated.ok());
  EXPECT_EQ(migrated.error().message.find("s3cret-pw"), std::string::npos);
}

}  // namespace
}  // namespace failcat

namespace failcat {
namespace {

TEST_P(StoreContract, OnlyOneConnectionLeadsTheJobs) {
  // Polled: the lock is the database's, and a test in another process may hold it a moment.
  ASSERT_TRUE(takes_leadership(*store_));
  EXPECT_TRUE(*store_->try_acquire_leadership());  // held, not re-taken
  auto second = backend_->open();
  auto other = second->try_acquire_leadership();
  ASSERT_TRUE(other.ok());
  if (GetParam() == "postgres") {
    EXPECT_FALSE(*other);
    store_.reset();  // the session ends and the lock goes with it
    // The server releases it once its backend has seen the connection close, a moment after
    // the client let go: poll for it (bounded) rather than expect it at once.
    bool taken = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!taken && std::chrono::steady_clock::now() < deadline) {
      auto attempt = second->try_acquire_leadership();
      ASSERT_TRUE(attempt.ok()) << attempt.error().message;
      taken = *attempt;
      if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(taken);
  } else {
    EXPECT_TRUE(*other);  // one process owns a SQLite file
  }
}

}  // namespace
}  // namespace failcat

namespace failcat {
namespace {

// Batches large enough for PostgreSQL's COPY path must keep every byte and every NULL.
TEST_P(StoreContract, LargeBatchesRoundTripEscapesAndNulls) {
  std::vector<FailureRecord> rows;
  for (int i = 0; i < 40; ++i) {
    FailureRecord r = record(kNow + i);
    r.error_message = "tab\there\nnew line \\N back\\slash \"quote\" ünïcödé " + std::to_string(i);
    r.recovery_notes = i % 2 ? std::optional<std::string>("\\.") : std::nullopt;
    r.context_json = i % 3 ? std::optional<std::string>(R"({"k":"v\twith\\tab"})") : std::nullopt;
    r.match_confidence = i % 4 ? std::optional<double>(0.1 * i) : std::nullopt;
    r.step_index = i % 5 ? std::optional<std::int32_t>(i) : std::nullopt;
    r.recovered_at = i % 6 ? std::optional<Micros>(kNow + 123456 + i) : std::nullopt;
    rows.push_back(r);
  }
  auto inserted = store_->insert_batch(rows);
  ASSERT_TRUE(inserted.ok()) << inserted.error().message;
  EXPECT_EQ(*inserted, rows.size());
  EXPECT_EQ(*store_->insert_batch(rows), 0u);
  for (const auto& r : rows) {
    auto got = store_->get(TenantScope::all(), r.id);
    ASSERT_TRUE(got.ok() && got->has_value());
    FailureRecord g = **got;
    EXPECT_EQ(g.context_json.has_value(), r.context_json.has_value());
    g.context_json = r.context_json;  // JSONB normalises spacing
    EXPECT_EQ(g, r);
  }
}

}  // namespace
}  // namespace failcat
