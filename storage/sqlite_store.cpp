// The embedded default store: one SQLite file in WAL journal mode.
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>
#include <stdexcept>
#include <utility>
#include <variant>

#include "core/clock.hpp"
#include "core/tokenizer.hpp"
#include "core/unmatched_signatures.hpp"
#include "storage/failure_store.hpp"
#include "storage/migration_set.hpp"
#include "storage/store_factory.hpp"

namespace failcat {
namespace {

constexpr const char* kColumns =
    "id, run_id, tenant_id, error_code, error_message, catalog_entry_id, match_type, "
    "match_confidence, category, severity, is_retryable, recovery_mode, recovery_suggestion, "
    "recovery_attempted, recovery_succeeded, recovered_at, recovered_by, recovery_notes, "
    "skill_id, step_index, context_json, created_at, updated_at";

constexpr const char* kSeverityRank =
    "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
    "WHEN 'low' THEN 3 ELSE 4 END";

/// Thrown inside the store only; every public method converts it to an Error.
struct SqliteFailure : std::runtime_error {
  SqliteFailure(int code, const std::string& what) : std::runtime_error(what), code(code) {}
  int code;
};

using Value = std::variant<std::monostate, std::string, std::int64_t, double>;

Value text_or_null(const std::optional<std::string>& v) {
  return v ? Value{*v} : Value{std::monostate{}};
}
Value time_or_null(const std::optional<Micros>& v) {
  return v ? Value{format_rfc3339(*v)} : Value{std::monostate{}};
}

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
        SQLITE_OK) {
      throw SqliteFailure(sqlite3_errcode(db), sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind_all(const std::vector<Value>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) bind(static_cast<int>(i + 1), values[i]);
    return *this;
  }

  void bind(int index, const Value& v) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::monostate>(v)) {
      rc = sqlite3_bind_null(stmt_, index);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      rc =
          sqlite3_bind_text(stmt_, index, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt_, index, *i);
    } else {
      rc = sqlite3_bind_double(stmt_, index, std::get<double>(v));
    }
    if (rc != SQLITE_OK) throw SqliteFailure(rc, sqlite3_errmsg(db_));
  }

  /// Advances to the next row; false when done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqliteFailure(rc, sqlite3_errmsg(db_));
  }

  void run() {
    while (step()) {
    }
  }

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::optional<std::string> opt_text(int col) const {
    return is_null(col) ? std::nullopt : std::optional<std::string>(text(col));
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }

  /// Makes a prepared statement reusable for the next row.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Micros time(int col) const {
    auto t = parse_rfc3339(text(col));
    if (!t) throw SqliteFailure(SQLITE_MISMATCH, "bad timestamp in column " + std::to_string(col));
    return *t;
  }
  std::optional<Micros> opt_time(int col) const {
    return is_null(col) ? std::nullopt : std::optional<Micros>(time(col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

FailureRecord read_record(const Statement& s) {
  FailureRecord r;
  r.id = s.text(0);
  r.run_id = s.text(1);
  r.tenant_id = s.text(2);
  r.error_code = s.text(3);
  r.error_message = s.opt_text(4);
  r.catalog_entry_id = s.opt_text(5);
  r.match_type = s.opt_text(6);
  if (!s.is_null(7)) r.match_confidence = s.real(7);
  r.category = s.opt_text(8);
  r.severity = s.opt_text(9);
  r.is_retryable = s.int64(10) != 0;
  r.recovery_mode = s.opt_text(11);
  r.recovery_suggestion = s.opt_text(12);
  r.recovery_attempted = s.int64(13) != 0;
  r.recovery_succeeded = s.int64(14) != 0;
  r.recovered_at = s.opt_time(15);
  r.recovered_by = s.opt_text(16);
  r.recovery_notes = s.opt_text(17);
  r.skill_id = s.opt_text(18);
  if (!s.is_null(19)) r.step_index = static_cast<std::int32_t>(s.int64(19));
  r.context_json = s.opt_text(20);
  r.created_at = s.time(21);
  r.updated_at = s.time(22);
  return r;
}

/// What the -wal file is cut back to after a checkpoint (`journal_size_limit`): four times the
/// ~4 MiB SQLite's automatic checkpoint lets it reach between checkpoints.
constexpr std::int64_t kSqliteWalKeepBytes = 16 << 20;

/// Rows per (error_code, signature) of unmatched failures fetched for the stats; each holds
/// every failure of its group, so the cap only matters past this many distinct groups.
constexpr int kUnmatchedGroupLimit = 5000;
constexpr const char* kUnmatchedBySignature_1 =
    "WITH v AS (SELECT error_code, coalesce(error_message, '') AS msg, count(*) AS n FROM "
    "failure_matches";
constexpr const char* kUnmatchedBySignature_2 =
    " AND catalog_entry_id IS NULL GROUP BY 1, 2), "
    "g AS (SELECT error_code, msg, failcat_signature(msg) AS sig, n FROM v), "
    "r AS (SELECT error_code, msg, n, sig, sum(n) OVER (PARTITION BY error_code, sig) AS total, "
    "row_number() OVER (PARTITION BY error_code, sig ORDER BY n DESC, msg) AS k FROM g) "
    "SELECT error_code, msg, total, n FROM r WHERE k = 1 ORDER BY total DESC, error_code, sig "
    "LIMIT ";

/// `failcat_signature(message)`: `message_signature` for SQL.
/// No exception may cross SQLite's C frames: out of memory is reported to SQLite instead.
void sql_message_signature(sqlite3_context* context, int, sqlite3_value** argv) noexcept {
  try {
    const auto* text = sqlite3_value_text(argv[0]);
    const int bytes = sqlite3_value_bytes(argv[0]);
    const std::string signature =
        message_signature(text ? std::string_view(reinterpret_cast<const char*>(text),
                                                  static_cast<std::size_t>(bytes))
                               : std::string_view());
    sqlite3_result_text(context, signature.data(), static_cast<int>(signature.size()),
                        SQLITE_TRANSIENT);
  } catch (...) {
    sqlite3_result_error_nomem(context);
  }
}

/// A WHERE clause with its bound values.
struct Where {
  std::string sql = " WHERE 1 = 1";
  std::vector<Value> values;

  void add(const std::string& condition, std::vector<Value> vs = {}) {
    sql += " AND " + condition;
    for (auto& v : vs) values.push_back(std::move(v));
  }
};

void add_scope(Where& w, const TenantScope& scope) {
  if (scope.tenant()) w.add("tenant_id = ?", {*scope.tenant()});
}

void add_filter(Where& w, const FailureFilter& f) {
  if (f.tenant_id) w.add("tenant_id = ?", {*f.tenant_id});
  if (f.run_id) w.add("run_id = ?", {*f.run_id});
  if (f.error_code) w.add("error_code = ?", {*f.error_code});
  if (f.category) w.add("category = ?", {*f.category});
  if (f.since) w.add("created_at >= ?", {format_rfc3339(*f.since)});
  if (f.status == RecoveryStatus::recovered) w.add("recovery_succeeded = 1");
  if (f.status == RecoveryStatus::unrecovered) w.add("recovery_succeeded = 0");
}

class SqliteStore final : public FailureStore {
 public:
  explicit SqliteStore(StoreOptions options) : options_(std::move(options)) {}
  ~SqliteStore() override { close(); }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  const char* backend() const override { return "sqlite"; }

  Result<std::vector<int>> migrate(std::optional<int> up_to) override {
    return guarded<std::vector<int>>([&] {
      ensure_migrations_table();
      std::vector<int> applied;
      // BEGIN IMMEDIATE takes the write lock: two processes never apply the same migration.
      for (const auto& m : sqlite_migrations()) {
        if (up_to && m.version > *up_to) break;
        exec("BEGIN IMMEDIATE");
        try {
          Statement check(db(), "SELECT 1 FROM schema_migrations WHERE version = ?");
          check.bind(1, std::int64_t{m.version});
          if (check.step()) {
            exec("COMMIT");
            continue;
          }
          exec(m.sql);
          Statement mark(db(),
                         "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                         "VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))");
          mark.bind_all({std::int64_t{m.version}, std::string(m.name), migration_checksum(m)});
          mark.run();
          exec("COMMIT");
          applied.push_back(m.version);
        } catch (...) {
          rollback();
          throw;
        }
      }
      return applied;
    });
  }

  Result<std::vector<MigrationStatus>> migration_status() override {
    return guarded<std::vector<MigrationStatus>>([&] {
      // Looking changes nothing: a store not yet open reads through a read-only connection
      // without this store's pragmas (which would turn a file into a WAL-mode database), and
      // creates no file, directory or table.
      std::unique_ptr<sqlite3, int (*)(sqlite3*)> reader(nullptr, &sqlite3_close_v2);
      sqlite3* conn = db_;
      std::error_code ec;
      if (conn == nullptr && options_.sqlite_path != ":memory:" &&
          std::filesystem::exists(options_.sqlite_path, ec)) {
        sqlite3* ro = nullptr;
        const int rc = sqlite3_open_v2(options_.sqlite_path.c_str(), &ro,
                                       SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
        reader.reset(ro);
        if (rc != SQLITE_OK) {
          throw SqliteFailure(rc, "cannot open " + options_.sqlite_path + ": " +
                                      (ro ? sqlite3_errmsg(ro) : "out of memory"));
        }
        sqlite3_busy_timeout(ro, options_.statement_timeout_ms);
        conn = ro;
      } else if (conn == nullptr && options_.sqlite_path == ":memory:") {
        conn = db();
      }
      bool has_table = false;
      if (conn != nullptr) {
        Statement exists(conn,
                         "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                         "name = 'schema_migrations'");
        has_table = exists.step();
      }
      std::vector<MigrationStatus> out;
      std::set<int> known;
      for (const auto& m : sqlite_migrations()) {
        known.insert(m.version);
        MigrationStatus status{m.version, m.name, false, std::nullopt};
        if (!has_table) {
          out.push_back(std::move(status));
          continue;
        }
        Statement s(conn, "SELECT applied_at, checksum FROM schema_migrations WHERE version = ?");
        s.bind(1, std::int64_t{m.version});
        if (s.step()) {
          status.applied = true;
          status.applied_at = parse_rfc3339(s.text(0));
          status.checksum_differs = s.text(1) != migration_checksum(m);
        }
        out.push_back(std::move(status));
      }
      if (!has_table) return out;
      Statement all(conn,
                    "SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
      while (all.step()) {
        const int version = static_cast<int>(all.int64(0));
        if (known.count(version) != 0) continue;
        out.push_back(
            MigrationStatus{version, all.text(1), true, parse_rfc3339(all.text(2)), false, true});
      }
      return out;
    });
  }

  Result<std::size_t> insert_batch(const std::vector<FailureRecord>& rows) override {
    return guarded<std::size_t>([&] {
      if (rows.empty()) return std::size_t{0};
      std::size_t inserted = 0;
      transaction([&] {
        Statement claim(db(),
                        "INSERT INTO failure_idempotency (tenant_id, idem_key, failure_id, "
                        "created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
        Statement owner(db(),
                        "SELECT failure_id FROM failure_idempotency WHERE tenant_id = ? AND "
                        "idem_key = ?");
        Statement insert(db(), std::string("INSERT INTO failure_matches (") + kColumns +
                                   ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                                   "ON CONFLICT (id) DO NOTHING");
        for (const auto& r : rows) {
          // A key another failure owns keeps its owner; the row is stored all the same (it
          // was answered with its own id: a retry not checked against the database in time),
          // unless it asks to be skipped then (an import).
          if (r.idempotency_key) {
            claim.reset();
            claim.bind_all({r.tenant_id, *r.idempotency_key, r.id, format_rfc3339(r.created_at)});
            claim.run();
            if (r.skip_if_key_owned) {
              owner.reset();
              owner.bind_all({r.tenant_id, *r.idempotency_key});
              if (owner.step() && owner.text(0) != r.id) continue;
            }
          }
          insert.reset();
          insert.bind_all(record_values(r));
          insert.run();
          inserted += static_cast<std::size_t>(sqlite3_changes(db()));
        }
      });
      return inserted;
    });
  }

  Result<std::optional<FailureRecord>> get(const TenantScope& scope,
                                           const std::string& id) override {
    return guarded<std::optional<FailureRecord>>([&] { return fetch(scope, id); });
  }

  Result<std::optional<FailureRecord>> find_by_idempotency_key(const std::string& tenant_id,
                                                               const std::string& key) override {
    return guarded<std::optional<FailureRecord>>([&]() -> std::optional<FailureRecord> {
      Statement s(db(), std::string("SELECT ") + kColumns +
                            " FROM failure_matches WHERE id = (SELECT failure_id FROM "
                            "failure_idempotency WHERE tenant_id = ? AND idem_key = ?)");
      s.bind_all({tenant_id, key});
      if (!s.step()) return std::nullopt;
      return read_record(s);
    });
  }

  Result<FailurePage> list(const TenantScope& scope, const ListQuery& query) override {
    return guarded<FailurePage>(
        [&] { return snapshot<FailurePage>([&] { return list_page(scope, query); }); });
  }

  FailurePage list_page(const TenantScope& scope, const ListQuery& query) {
    Where where;
    add_scope(where, scope);
    add_filter(where, query.filter);
    FailurePage page;
    if (query.with_total) {
      const std::int64_t cap = std::clamp<std::int64_t>(
          query.total_limit, 0, std::numeric_limits<std::int64_t>::max() - 1);
      page.total = count_up_to(where, cap + 1);
      page.total_exact = page.total <= cap;
      page.total = std::min(page.total, cap);
    }
    Where paged = where;
    if (query.after) {
      // A row value, so the position bounds a range of idx_fm_created_at (an OR of the two
      // cases made SQLite walk the index from the newest row).
      paged.add("(created_at, id) < (?, ?)",
                {format_rfc3339(query.after->created_at), query.after->id});
    }
    std::vector<Value> values = paged.values;
    values.emplace_back(query.limit + 1);
    values.emplace_back(query.after ? std::int64_t{0} : query.offset);
    Statement s(db(), std::string("SELECT ") + kColumns + " FROM failure_matches" + paged.sql +
                          " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?");
    s.bind_all(values);
    while (s.step()) page.items.push_back(read_record(s));
    if (static_cast<std::int64_t>(page.items.size()) > query.limit) {
      page.items.pop_back();
      page.next = ListCursor{page.items.back().created_at, page.items.back().id};
    }
    return page;
  }

  Result<FailurePage> unrecovered(const TenantScope& scope,
                                  const UnrecoveredQuery& query) override {
    return guarded<FailurePage>(
        [&] { return snapshot<FailurePage>([&] { return unrecovered_page(scope, query); }); });
  }

  FailurePage unrecovered_page(const TenantScope& scope, const UnrecoveredQuery& query) {
    Where where;
    add_scope(where, scope);
    FailureFilter f;
    f.tenant_id = query.tenant_id;
    f.category = query.category;
    f.since = query.since;
    f.status = RecoveryStatus::unrecovered;
    add_filter(where, f);
    FailurePage page;
    page.total = count(where);
    std::vector<Value> values = where.values;
    values.emplace_back(query.limit);
    values.emplace_back(query.offset);
    Statement s(db(), std::string("SELECT ") + kColumns + " FROM failure_matches" + where.sql +
                          " ORDER BY " + kSeverityRank +
                          ", created_at DESC, id DESC LIMIT ? OFFSET ?");
    s.bind_all(values);
    while (s.step()) page.items.push_back(read_record(s));
    return page;
  }

  Result<RecoveryUpdateResult> update_recovery(
      const TenantScope& scope, const std::string& id, const RecoveryUpdate& update,
      const std::optional<std::vector<Micros>>& if_updated_at) override {
    return guarded<RecoveryUpdateResult>([&] {
      RecoveryUpdateResult result;
      transaction([&] {
        auto current = fetch(scope, id);
        if (!current) {
          result.outcome = UpdateOutcome::not_found;
          return;
        }
        if (if_updated_at && std::find(if_updated_at->begin(), if_updated_at->end(),
                                       current->updated_at) == if_updated_at->end()) {
          result.outcome = UpdateOutcome::precondition_failed;
          result.record = std::move(current);
          return;
        }
        Where where;
        where.add("id = ?", {id});
        write_recovery(where, update);
        result.outcome = UpdateOutcome::updated;
        result.record = fetch(scope, id);
      });
      return result;
    });
  }

  Result<std::int64_t> bulk_update_recovery(const TenantScope& scope, const FailureFilter& filter,
                                            const RecoveryUpdate& update) override {
    return guarded<std::int64_t>([&] {
      std::int64_t updated = 0;
      transaction([&] {
        Where where;
        add_scope(where, scope);
        add_filter(where, filter);
        // A row already in the state asked for keeps its recovery time, notes and ETag (a
        // retried or repeated bulk change changes nothing twice).
        where.add(
            "(recovery_attempted <> ? OR recovery_succeeded <> ?)",
            {std::int64_t{update.recovery_attempted}, std::int64_t{update.recovery_succeeded}});
        updated = write_recovery(where, update);
      });
      return updated;
    });
  }

  Result<std::vector<RecoveryEvent>> recovery_events(const TenantScope& scope,
                                                     const std::string& failure_id) override {
    return guarded<std::vector<RecoveryEvent>>([&] {
      Where where;
      add_scope(where, scope);
      where.add("failure_id = ?", {failure_id});
      Statement s(db(),
                  "SELECT event_id, failure_id, tenant_id, actor, old_attempted, old_succeeded, "
                  "new_attempted, new_succeeded, notes, at FROM failure_recovery_events" +
                      where.sql + " ORDER BY event_id");
      s.bind_all(where.values);
      std::vector<RecoveryEvent> out;
      while (s.step()) {
        RecoveryEvent e;
        e.event_id = s.int64(0);
        e.failure_id = s.text(1);
        e.tenant_id = s.text(2);
        e.actor = s.text(3);
        e.old_attempted = s.int64(4) != 0;
        e.old_succeeded = s.int64(5) != 0;
        e.new_attempted = s.int64(6) != 0;
        e.new_succeeded = s.int64(7) != 0;
        e.notes = s.opt_text(8);
        e.at = s.time(9);
        out.push_back(std::move(e));
      }
      return out;
    });
  }

  Result<FailureStats> stats(const TenantScope& scope, const StatsQuery& query) override {
    return guarded<FailureStats>(
        [&] { return snapshot<FailureStats>([&] { return stats_of(scope, query); }); });
  }

  FailureStats stats_of(const TenantScope& scope, const StatsQuery& query) {
    Where where;
    add_scope(where, scope);
    FailureFilter f;
    f.tenant_id = query.tenant_id;
    f.since = query.since;
    add_filter(where, f);
    FailureStats st;
    {
      // One pass for the totals and the three small breakdowns (see the PostgreSQL store).
      Statement s(db(),
                  "SELECT category, severity, match_type, count(*), "
                  "sum(catalog_entry_id IS NOT NULL), sum(recovery_attempted), "
                  "sum(recovery_succeeded), sum(recovery_attempted AND NOT recovery_succeeded) "
                  "FROM failure_matches" +
                      where.sql + " GROUP BY 1, 2, 3");
      s.bind_all(where.values);
      while (s.step()) {
        const std::int64_t n = s.int64(3);
        st.total += n;
        st.matched += s.int64(4);
        st.recovery_attempted += s.int64(5);
        st.recovery_succeeded += s.int64(6);
        st.recovery_failed += s.int64(7);
        if (!s.is_null(0)) st.by_category[s.text(0)] += n;
        if (!s.is_null(1)) st.by_severity[s.text(1)] += n;
        if (!s.is_null(2)) st.by_match_type[s.text(2)] += n;
      }
      st.missed = st.total - st.matched;
      st.recovery_pending = st.total - st.recovery_succeeded;
    }
    {
      std::vector<Value> values = where.values;
      values.emplace_back(static_cast<std::int64_t>(query.top_n));
      Statement s(db(), "SELECT error_code, count(*) AS n FROM failure_matches" + where.sql +
                            " GROUP BY error_code ORDER BY n DESC, error_code LIMIT ?");
      s.bind_all(values);
      while (s.step()) st.top_error_codes.push_back({s.text(0), s.int64(1)});
    }
    {
      // One row per (code, signature): its count and its most frequent message, so that the
      // regrouping across codes (group_unmatched) sees every unmatched failure however many
      // variants there are.
      Statement s(db(), std::string(kUnmatchedBySignature_1) + where.sql + kUnmatchedBySignature_2 +
                            std::to_string(kUnmatchedGroupLimit));
      s.bind_all(where.values);
      std::vector<UnmatchedMessageCount> rows;
      while (s.step()) rows.push_back({s.text(0), s.text(1), s.int64(2), s.int64(3)});
      st.top_unmatched = group_unmatched(rows, query.top_n);
    }
    return st;
  }

  Result<std::int64_t> rollup_aggregates(Micros from, Micros to, Micros now) override {
    return guarded<std::int64_t>([&] {
      const auto lo = format_rfc3339(floor_hour(from));
      const auto hi = format_rfc3339(floor_hour(to) == to ? to : floor_hour(to) + kMicrosPerHour);
      // Grouped in a read snapshot, which in WAL mode holds no lock a writer waits for: only
      // the replacement of the range's rows takes the single write lock, so ingest's batches
      // never queue behind a scan of hours of failures.
      using Group = std::vector<Value>;
      const auto groups = snapshot<std::vector<Group>>([&] {
        Statement sel(db(),
                      "SELECT substr(created_at, 1, 13) || ':00:00.000000Z', tenant_id, "
                      "error_code, coalesce(catalog_entry_id, ''), coalesce(category, ''), "
                      "coalesce(match_type, ''), count(*), sum(recovery_succeeded) FROM "
                      "failure_matches WHERE created_at >= ? AND created_at < ? "
                      "GROUP BY 1, 2, 3, 4, 5, 6");
        sel.bind_all({lo, hi});
        std::vector<Group> out;
        while (sel.step()) {
          out.push_back({sel.text(0), sel.text(1), sel.text(2), sel.text(3), sel.text(4),
                         sel.text(5), sel.int64(6), sel.int64(7)});
        }
        return out;
      });
      std::int64_t written = 0;
      transaction([&] {
        Statement del(
            db(), "DELETE FROM failure_aggregates WHERE bucket_start >= ? AND bucket_start < ?");
        del.bind_all({lo, hi});
        del.run();
        Statement ins(db(),
                      "INSERT INTO failure_aggregates (bucket_start, tenant_id, error_code, "
                      "catalog_entry_id, category, match_type, failure_count, recovered_count, "
                      "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        const std::string stamp = format_rfc3339(now);
        for (const auto& g : groups) {
          ins.reset();
          ins.bind_all(g);
          ins.bind(9, stamp);
          ins.run();
          ++written;
        }
      });
      return written;
    });
  }

  Result<std::vector<Micros>> hours_recovered_within(Micros window, std::int64_t limit) override {
    return guarded<std::vector<Micros>>([&] {
      Statement s(db(),
                  "SELECT DISTINCT substr(m.created_at, 1, 13) || ':00:00.000000Z' AS hour "
                  "FROM failure_recovery_events e JOIN failure_matches m ON m.id = e.failure_id "
                  "WHERE e.recorded_at >= ? ORDER BY hour DESC LIMIT ?");
      s.bind_all({format_rfc3339(SystemClock().now() - window), std::max<std::int64_t>(limit, 0)});
      std::vector<Micros> hours;
      while (s.step()) hours.push_back(s.time(0));
      std::reverse(hours.begin(), hours.end());
      return hours;
    });
  }

  Result<std::vector<AggregateRow>> aggregates(const TenantScope& scope,
                                               const AggregateQuery& query) override {
    return guarded<std::vector<AggregateRow>>([&] {
      Where where;
      add_scope(where, scope);
      if (query.tenant_id) where.add("tenant_id = ?", {*query.tenant_id});
      where.add("bucket_start >= ?", {format_rfc3339(query.since)});
      if (query.until) where.add("bucket_start < ?", {format_rfc3339(*query.until)});
      std::vector<Value> values = where.values;
      values.emplace_back(query.limit);
      Statement s(db(),
                  "SELECT bucket_start, tenant_id, error_code, catalog_entry_id, category, "
                  "match_type, failure_count, recovered_count, updated_at FROM "
                  "failure_aggregates" +
                      where.sql +
                      " ORDER BY bucket_start DESC, tenant_id, error_code, catalog_entry_id, "
                      "category, match_type LIMIT ?");
      s.bind_all(values);
      std::vector<AggregateRow> out;
      while (s.step()) {
        out.push_back(AggregateRow{s.time(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5),
                                   s.int64(6), s.int64(7), s.time(8)});
      }
      return out;
    });
  }

  Result<std::int64_t> delete_older_than(Micros cutoff, std::int64_t batch_limit) override {
    return guarded<std::int64_t>([&] {
      std::int64_t deleted = 0;
      const auto t = format_rfc3339(cutoff);
      transaction([&] {
        Statement s(db(),
                    "DELETE FROM failure_matches WHERE id IN (SELECT id FROM failure_matches "
                    "WHERE created_at < ? ORDER BY created_at LIMIT ?)");
        s.bind_all({t, batch_limit});
        s.run();
        deleted = sqlite3_changes(db());
        // Bounded like the failures: a first run over years of keys is many short
        // transactions, not one that holds the database.
        Statement keys(db(),
                       "DELETE FROM failure_idempotency WHERE rowid IN (SELECT rowid FROM "
                       "failure_idempotency WHERE created_at < ? LIMIT ?)");
        keys.bind_all({t, batch_limit + deleted});
        keys.run();
      });
      return deleted;
    });
  }

  Status ping() override {
    return guarded<Unit>([&] {
      Statement s(db(), "SELECT 1");
      s.step();
      return Unit{};
    });
  }

  Result<bool> try_acquire_leadership() override { return true; }

 private:
  template <class T, class F>
  Result<T> guarded(F&& body) {
    try {
      return Result<T>(body());
    } catch (const SqliteFailure& e) {
      const int primary = e.code & 0xff;
      if (primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH || primary == SQLITE_TOOBIG) {
        return Error{ErrorKind::rejected, std::string("sqlite: ") + e.what(), {}};
      }
      if (primary == SQLITE_MISUSE) {
        return Error{ErrorKind::internal, std::string("sqlite: ") + e.what(), {}};
      }
      if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || primary == SQLITE_CANTOPEN ||
          primary == SQLITE_IOERR) {
        close();  // reopen on the next call
      }
      return Error::unavailable(std::string("sqlite: ") + e.what());
    } catch (const std::exception& e) {
      return Error::unavailable(std::string("sqlite: ") + e.what());
    }
  }

  sqlite3* db() {
    if (db_ != nullptr) return db_;
    const std::filesystem::path path(options_.sqlite_path);
    if (path.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(path.parent_path(), ec);
      if (ec) {
        throw SqliteFailure(SQLITE_CANTOPEN, "cannot create directory " +
                                                 path.parent_path().string() + ": " + ec.message());
      }
    }
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(options_.sqlite_path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      throw SqliteFailure(rc, "cannot open " + options_.sqlite_path + ": " + message);
    }
    db_ = db;
    try {
      sqlite3_busy_timeout(db_, options_.statement_timeout_ms);
      // FULL: a commit that returned is on disk, because the WAL in front of the store is
      // trimmed as soon as a batch is committed here.
      exec("PRAGMA journal_mode = WAL");
      // The -wal file grows to the largest transaction (a backfill, a bulk change, a rollup)
      // and otherwise keeps that size for ever; cut it back after each checkpoint.
      exec("PRAGMA journal_size_limit = " + std::to_string(kSqliteWalKeepBytes));
      exec("PRAGMA synchronous = FULL");
      exec("PRAGMA foreign_keys = ON");
      // Stats group unmatched messages by signature in SQL: exact however many variants.
      const int fn =
          sqlite3_create_function(db_, "failcat_signature", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                  nullptr, &sql_message_signature, nullptr, nullptr);
      if (fn != SQLITE_OK) throw SqliteFailure(fn, "cannot register failcat_signature");
    } catch (...) {
      close();
      throw;
    }
    return db_;
  }

  void close() {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db(), sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string message = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw SqliteFailure(rc, message);
    }
  }

  void rollback() {
    if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  /// Runs `body`'s reads on one snapshot (a deferred transaction: in WAL mode it reads the
  /// database as of its first statement), so a count and the page it describes, or the parts
  /// of the stats, agree while ingest goes on — as PostgreSQL's repeatable-read reads do.
  template <class T>
  T snapshot(const std::function<T()>& body) {
    exec("BEGIN DEFERRED");
    try {
      T out = body();
      exec("COMMIT");
      return out;
    } catch (...) {
      rollback();
      throw;
    }
  }

  void transaction(const std::function<void()>& body) {
    exec("BEGIN IMMEDIATE");
    try {
      body();
      exec("COMMIT");
    } catch (...) {
      rollback();
      throw;
    }
  }

  void ensure_migrations_table() {
    exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT "
        "NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)");
  }

  /// Matching rows, counting no further than `cap`.
  std::int64_t count_up_to(const Where& where, std::int64_t cap) {
    std::vector<Value> values = where.values;
    values.emplace_back(cap);
    Statement s(db(),
                "SELECT count(*) FROM (SELECT 1 FROM failure_matches" + where.sql + " LIMIT ?)");
    s.bind_all(values);
    s.step();
    return s.int64(0);
  }

  std::int64_t count(const Where& where) {
    Statement s(db(), "SELECT count(*) FROM failure_matches" + where.sql);
    s.bind_all(where.values);
    s.step();
    return s.int64(0);
  }

  std::optional<FailureRecord> fetch(const TenantScope& scope, const std::string& id) {
    Where where;
    add_scope(where, scope);
    where.add("id = ?", {id});
    Statement s(db(), std::string("SELECT ") + kColumns + " FROM failure_matches" + where.sql);
    s.bind_all(where.values);
    if (!s.step()) return std::nullopt;
    return read_record(s);
  }

  /// Audits, then updates, every row matching `where` (inside the caller's transaction).
  std::int64_t write_recovery(const Where& where, const RecoveryUpdate& u) {
    const std::string at = format_rfc3339(u.at);
    // The API key that made the change, else what the caller wrote.
    const Value actor = u.actor ? *u.actor : std::string(u.recovered_by.value_or("api"));
    std::vector<Value> audit_values = {actor,
                                       std::int64_t{u.recovery_attempted},
                                       std::int64_t{u.recovery_succeeded},
                                       text_or_null(u.notes),
                                       at,
                                       format_rfc3339(SystemClock().now())};
    audit_values.insert(audit_values.end(), where.values.begin(), where.values.end());
    Statement audit(db(),
                    "INSERT INTO failure_recovery_events (failure_id, tenant_id, actor, "
                    "old_attempted, old_succeeded, new_attempted, new_succeeded, notes, at, "
                    "recorded_at) SELECT id, tenant_id, ?1, recovery_attempted, "
                    "recovery_succeeded, ?2, ?3, ?4, ?5, ?6 FROM failure_matches" +
                        renumber(where.sql, 7));
    audit.bind_all(audit_values);
    audit.run();

    std::vector<Value> update_values = {std::int64_t{u.recovery_attempted},
                                        std::int64_t{u.recovery_succeeded},
                                        u.recovery_succeeded ? Value{at} : Value{std::monostate{}},
                                        text_or_null(u.recovered_by),
                                        text_or_null(u.notes),
                                        at};
    update_values.insert(update_values.end(), where.values.begin(), where.values.end());
    Statement update(db(),
                     "UPDATE failure_matches SET recovery_attempted = ?1, recovery_succeeded = "
                     "?2, recovered_at = ?3, recovered_by = ?4, recovery_notes = ?5, "
                     "updated_at = ?6" +
                         renumber(where.sql, 7));
    update.bind_all(update_values);
    update.run();
    return sqlite3_changes(db());
  }

  /// Rewrites the plain `?` placeholders of `sql` as `?N`, `?N+1`, … (they follow numbered ones).
  static std::string renumber(const std::string& sql, int first) {
    std::string out;
    for (char c : sql) {
      out.push_back(c);
      if (c == '?') out += std::to_string(first++);
    }
    return out;
  }

  static std::vector<Value> record_values(const FailureRecord& r) {
    return {r.id,
            r.run_id,
            r.tenant_id,
            r.error_code,
            text_or_null(r.error_message),
            text_or_null(r.catalog_entry_id),
            text_or_null(r.match_type),
            r.match_confidence ? Value{*r.match_confidence} : Value{std::monostate{}},
            text_or_null(r.category),
            text_or_null(r.severity),
            std::int64_t{r.is_retryable},
            text_or_null(r.recovery_mode),
            text_or_null(r.recovery_suggestion),
            std::int64_t{r.recovery_attempted},
            std::int64_t{r.recovery_succeeded},
            time_or_null(r.recovered_at),
            text_or_null(r.recovered_by),
            text_or_null(r.recovery_notes),
            text_or_null(r.skill_id),
            r.step_index ? Value{std::int64_t{*r.step_index}} : Value{std::monostate{}},
            text_or_null(r.context_json),
            format_rfc3339(r.created_at),
            format_rfc3339(r.updated_at)};
  }

  StoreOptions options_;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<FailureStore> make_sqlite_store(const StoreOptions& options) {
  return std::make_unique<SqliteStore>(options);
}

}  // namespace failcat
