// FailureStore on PostgreSQL through libpqxx 6.4.
#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/unmatched_signatures.hpp"
#include "core/uuid.hpp"
#include "storage/failure_store.hpp"
#include "storage/migration_set.hpp"
#include "storage/store_factory.hpp"

namespace failcat {
namespace {

/// Session-level advisory lock serialising migrations across nodes ("failcat" in ASCII).
constexpr std::int64_t kMigrationLockKey = 0x6661696C636174;
// Held by the node that runs the periodic jobs.
constexpr std::int64_t kLeaderLockKey = 0x6661696C636175;
/// The operation name of try_acquire_leadership, the one call a lost leader lock allows.
constexpr const char* kLeadershipOperation = "leadership";
/// Rows per multi-row INSERT: 500 x 23 parameters stays far below PostgreSQL's 65535.
constexpr std::size_t kInsertChunkRows = 500;
// Below this many rows a parameterised INSERT beats COPY's extra round trips.
constexpr std::size_t kCopyMinRows = 16;
constexpr std::size_t kFailureColumns = 23;
/// Rows fetched before regrouping misses by signature: one per error code and group of
/// messages alike but for their ids (kUnmatchedKey), each counting every failure of its group,
/// so the cap only matters past this many distinct groups.
constexpr int kUnmatchedGroupLimit = 5000;
/// A message's grouping key in SQL, as close to `message_signature` as regular expressions get
/// and never coarser: two messages with one key always have one signature (the regrouping in
/// C++ would otherwise count one signature's failures under another). Computed from `low`, the
/// message with ASCII lower-cased as the tokenizer does: `lower` for an ASCII message (fast),
/// `translate` of A–Z otherwise (`lower` would fold more; `translate` costs 4 µs a message). A UUID
/// or a hex part (>= 6 hex digits mixing digits and letters, or 0x…) standing where the tokenizer
/// masks one — after a non-word character or an underscore, before neither a word character nor
/// anything but an underscore — becomes a placeholder (\x01 and a letter; a \x01 of the message
/// itself is doubled, so none reads as one); every digit becomes 0. Only in messages of at most
/// 4,096 bytes, all of which the tokenizer reads (the stats key a longer message by its first
/// 4,096 bytes when those are whole characters); a longer one is its own key, unmasked and
/// unfolded (cut by the tokenizer, possibly inside an id the expression would see whole, where a
/// folded digit could make two signatures one key). Ids are masked only when the cheap test
/// finds a hex run at all.
/// Punctuation and spacing stay, so the key is finer there.
constexpr const char* kUnmatchedKey =
    "CASE WHEN octet_length(low) > 4096 THEN replace(low, chr(1), chr(1) || chr(1)) ELSE "
    "regexp_replace(CASE WHEN low ~ '[0-9a-f]{6}|0x' THEN "
    "regexp_replace(regexp_replace(replace(low, chr(1), chr(1) || chr(1)), "
    "'(^|[^a-z0-9\\u0080-\\U0010ffff]|_)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
    "[0-9a-f]{12}(?![a-z0-9\\u0080-\\U0010ffff])', '\\1' || chr(1) || 'u', 'g'), "
    "'(^|[^a-z0-9\\u0080-\\U0010ffff]|_)(0x[0-9a-f]+|(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])"
    "[0-9a-f]{6,})(?![a-z0-9\\u0080-\\U0010ffff])', '\\1' || chr(1) || 'h', 'g') "
    "ELSE replace(low, chr(1), chr(1) || chr(1)) END, '[0-9]', '0', 'g') END";
constexpr const char* kDefaultActor = "api";
/// The least time a bulk recovery change may run (see bulk_update_recovery).
constexpr int kBulkTimeoutMs = 60'000;
/// The least time one step of the periodic jobs may run: a day's rollup reads every row of
/// that day, more than the per-request timeout allows on a busy installation (the jobs run on
/// the aggregator's own connection, not the request pool's).
constexpr int kJobTimeoutMs = 600'000;

/// The audit trail's actor of a recovery change: the API key, else what the caller wrote.
std::string audit_actor(const RecoveryUpdate& update) {
  return update.actor ? *update.actor : update.recovered_by.value_or(kDefaultActor);
}

using SqlValue = std::optional<std::string>;

// ---- Parameters ------------------------------------------------------------------------

/// Positional parameters of one statement, sent as text (NULL for nullopt); the SQL casts each
/// placeholder to its column type.
class SqlParams {
 public:
  SqlParams() = default;
  SqlParams(std::initializer_list<SqlValue> values) : values_(values) {}

  /// Appends a value and returns its placeholder (`$n`).
  std::string add(SqlValue value) {
    values_.push_back(std::move(value));
    return "$" + std::to_string(values_.size());
  }

  pqxx::result exec(pqxx::transaction_base& tx, const std::string& sql) const {
    std::vector<const char*> raw;
    raw.reserve(values_.size());
    for (const auto& v : values_) raw.push_back(v ? v->c_str() : nullptr);
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(raw));
  }

 private:
  std::vector<SqlValue> values_;
};

SqlValue text(const std::string& v) {
  return v;
}
SqlValue text(const char* v) {
  return std::string(v);
}
SqlValue text(const std::optional<std::string>& v) {
  return v;
}
SqlValue flag(bool v) {
  return std::string(v ? "true" : "false");
}
SqlValue number(std::int64_t v) {
  return std::to_string(v);
}
SqlValue timestamp(Micros t) {
  return format_rfc3339(t);
}
SqlValue timestamp(const std::optional<Micros>& t) {
  return t ? timestamp(*t) : SqlValue{};
}
SqlValue real(const std::optional<double>& v) {
  if (!v) return std::nullopt;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", *v);  // round-trips every double exactly
  return std::string(buf);
}
SqlValue integer(const std::optional<std::int32_t>& v) {
  return v ? SqlValue(std::to_string(*v)) : SqlValue{};
}

/// A timestamptz column read back as exact microseconds since the epoch (numeric in PG 14+).
std::string micros_of(const std::string& column) {
  return "(extract(epoch from " + column + ") * 1000000)::bigint";
}

std::string lower_uuid(const std::string& id) {
  return canonical_uuid(id).value_or(id);
}

// ---- failure_matches columns -----------------------------------------------------------

/// One column of failure_matches: how it is written (cast of its placeholder) and read back.
struct Column {
  const char* name;
  const char* cast;
  std::string select;  ///< Expression yielding the column's text form, aliased to `name`.
};

const std::vector<Column>& failure_columns() {
  static const std::vector<Column> columns = [] {
    std::vector<Column> c = {
        {"id", "uuid", "id::text"},
        {"run_id", "text", ""},
        {"tenant_id", "uuid", "tenant_id::text"},
        {"error_code", "text", ""},
        {"error_message", "text", ""},
        {"catalog_entry_id", "text", ""},
        {"match_type", "text", ""},
        {"match_confidence", "double precision", ""},
        {"category", "text", ""},
        {"severity", "text", ""},
        {"is_retryable", "boolean", ""},
        {"recovery_mode", "text", ""},
        {"recovery_suggestion", "text", ""},
        {"recovery_attempted", "boolean", ""},
        {"recovery_succeeded", "boolean", ""},
        {"recovered_at", "timestamptz", micros_of("recovered_at")},
        {"recovered_by", "text", ""},
        {"recovery_notes", "text", ""},
        {"skill_id", "text", ""},
        {"step_index", "integer", ""},
        {"context_json", "jsonb", "context_json::text"},
        {"created_at", "timestamptz", micros_of("created_at")},
        {"updated_at", "timestamptz", micros_of("updated_at")},
    };
    for (auto& col : c) {
      col.select = col.select.empty() ? col.name : col.select + " AS " + col.name;
    }
    return c;
  }();
  return columns;
}

/// The values of `r` in failure_columns() order.
std::vector<SqlValue> column_values(const FailureRecord& r) {
  return {text(lower_uuid(r.id)),
          text(r.run_id),
          text(r.tenant_id),
          text(r.error_code),
          text(r.error_message),
          text(r.catalog_entry_id),
          text(r.match_type),
          real(r.match_confidence),
          text(r.category),
          text(r.severity),
          flag(r.is_retryable),
          text(r.recovery_mode),
          text(r.recovery_suggestion),
          flag(r.recovery_attempted),
          flag(r.recovery_succeeded),
          timestamp(r.recovered_at),
          text(r.recovered_by),
          text(r.recovery_notes),
          text(r.skill_id),
          integer(r.step_index),
          text(r.context_json),
          timestamp(r.created_at),
          timestamp(r.updated_at)};
}

const std::string& select_list() {
  static const std::string list = [] {
    std::string s;
    for (const auto& col : failure_columns()) s += (s.empty() ? "" : ", ") + col.select;
    return s;
  }();
  return list;
}

const std::string& insert_column_list() {
  static const std::string list = [] {
    std::string s;
    for (const auto& col : failure_columns()) s += (s.empty() ? "" : ", ") + std::string(col.name);
    return s;
  }();
  return list;
}

std::optional<std::string> opt_text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str(), f.size());
}
template <class T>
std::optional<T> opt_as(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

FailureRecord read_failure(const pqxx::row& row) {
  FailureRecord r;
  r.id = row["id"].as<std::string>();
  r.run_id = row["run_id"].as<std::string>();
  r.tenant_id = row["tenant_id"].as<std::string>();
  r.error_code = row["error_code"].as<std::string>();
  r.error_message = opt_text(row["error_message"]);
  r.catalog_entry_id = opt_text(row["catalog_entry_id"]);
  r.match_type = opt_text(row["match_type"]);
  r.match_confidence = opt_as<double>(row["match_confidence"]);
  r.category = opt_text(row["category"]);
  r.severity = opt_text(row["severity"]);
  r.is_retryable = row["is_retryable"].as<bool>();
  r.recovery_mode = opt_text(row["recovery_mode"]);
  r.recovery_suggestion = opt_text(row["recovery_suggestion"]);
  r.recovery_attempted = row["recovery_attempted"].as<bool>();
  r.recovery_succeeded = row["recovery_succeeded"].as<bool>();
  r.recovered_at = opt_as<Micros>(row["recovered_at"]);
  r.recovered_by = opt_text(row["recovered_by"]);
  r.recovery_notes = opt_text(row["recovery_notes"]);
  r.skill_id = opt_text(row["skill_id"]);
  r.step_index = opt_as<std::int32_t>(row["step_index"]);
  r.context_json = opt_text(row["context_json"]);
  r.created_at = row["created_at"].as<Micros>();
  r.updated_at = row["updated_at"].as<Micros>();
  return r;
}

std::vector<FailureRecord> read_failures(const pqxx::result& rows) {
  std::vector<FailureRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(read_failure(row));
  return out;
}

// ---- SQL -------------------------------------------------------------------------------

constexpr const char* kCreateSchemaMigrations =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";
constexpr const char* kInsertMigration =
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1::integer, $2, $3)";
constexpr const char* kSchemaMigrationsExists =
    "SELECT to_regclass('schema_migrations') IS NOT NULL";

// Qualified on purpose: the select list aliases `created_at` (epoch microseconds) and `id`
// (text), and a bare ORDER BY name means the output column, an expression no index has. Sorting
// by it read and sorted the whole window for every page (~0.4 s on a million rows) instead of
// walking idx_fm_created_at.
constexpr const char* kListOrder = "failure_matches.created_at DESC, failure_matches.id DESC";

constexpr const char* kSeverityRank =
    "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2"
    " WHEN 'low' THEN 3 ELSE 4 END";

constexpr const char* kUpdateRecovery =
    "UPDATE failure_matches SET recovery_attempted = $1::boolean, recovery_succeeded = "
    "$2::boolean, recovered_at = $3::timestamptz, recovered_by = $4, recovery_notes = $5, "
    "updated_at = $6::timestamptz WHERE id = $7::uuid RETURNING ";

constexpr const char* kInsertRecoveryEvent =
    "INSERT INTO failure_recovery_events (failure_id, tenant_id, actor, old_attempted, "
    "old_succeeded, new_attempted, new_succeeded, notes, at) VALUES ($1::uuid, $2::uuid, $3, "
    "$4::boolean, $5::boolean, $6::boolean, $7::boolean, $8, $9::timestamptz)";

// `old` locks the matching rows; each updated row yields one audit event with its old values.
constexpr const char* kBulkRecoveryTemplate =
    "WITH old AS (SELECT id, tenant_id, recovery_attempted, recovery_succeeded"
    " FROM failure_matches{WHERE} FOR UPDATE),"
    " upd AS (UPDATE failure_matches f SET recovery_attempted = $1::boolean,"
    " recovery_succeeded = $2::boolean, recovered_at = $3::timestamptz, recovered_by = $4,"
    " recovery_notes = $5, updated_at = $6::timestamptz FROM old WHERE f.id = old.id"
    " RETURNING f.id, f.tenant_id, old.recovery_attempted AS old_attempted,"
    " old.recovery_succeeded AS old_succeeded)"
    " INSERT INTO failure_recovery_events (failure_id, tenant_id, actor, old_attempted,"
    " old_succeeded, new_attempted, new_succeeded, notes, at)"
    " SELECT id, tenant_id, $7, old_attempted, old_succeeded, $1::boolean, $2::boolean, $5,"
    " $6::timestamptz FROM upd";

const std::string kSelectEvents =
    "SELECT event_id, failure_id::text AS failure_id, tenant_id::text AS tenant_id, actor,"
    " old_attempted, old_succeeded, new_attempted, new_succeeded, notes, " +
    micros_of("at") + " AS at FROM failure_recovery_events";

// One pass over the window for the totals and the three small breakdowns: grouped by all three
// columns (a few hundred groups at most), each group carrying its counts, summed per key by the
// caller. Before, each of the four was its own scan of the window.
constexpr const char* kStatsGroups =
    "SELECT category, severity, match_type, count(*) AS total,"
    " count(*) FILTER (WHERE catalog_entry_id IS NOT NULL) AS matched,"
    " count(*) FILTER (WHERE recovery_attempted) AS attempted,"
    " count(*) FILTER (WHERE recovery_succeeded) AS succeeded,"
    " count(*) FILTER (WHERE recovery_attempted AND NOT recovery_succeeded) AS failed"
    " FROM failure_matches";

constexpr const char* kDeleteAggregates =
    "DELETE FROM failure_aggregates"
    " WHERE bucket_start >= $1::timestamptz AND bucket_start < $2::timestamptz";
constexpr const char* kRollupAggregates =
    "INSERT INTO failure_aggregates (bucket_start, tenant_id, error_code, catalog_entry_id,"
    " category, match_type, failure_count, recovered_count, updated_at)"
    " SELECT date_trunc('hour', created_at), tenant_id, error_code,"
    " coalesce(catalog_entry_id, ''), coalesce(category, ''), coalesce(match_type, ''),"
    " count(*), count(*) FILTER (WHERE recovery_succeeded), $3::timestamptz"
    " FROM failure_matches WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz"
    " GROUP BY 1, 2, 3, 4, 5, 6"
    " ON CONFLICT (bucket_start, tenant_id, error_code, catalog_entry_id, category, match_type)"
    " DO UPDATE SET failure_count = EXCLUDED.failure_count,"
    " recovered_count = EXCLUDED.recovered_count, updated_at = EXCLUDED.updated_at";
// The hours, as kRollupAggregates buckets them, of failures whose recovery changes were
// recorded in the last $1 microseconds (the database's clock).
const std::string kHoursRecoveredWithin =
    "SELECT " + micros_of("hour") +
    " FROM (SELECT DISTINCT date_trunc('hour', m.created_at) AS hour"
    " FROM failure_recovery_events e JOIN failure_matches m ON m.id = e.failure_id"
    " WHERE e.recorded_at >= now() - $1::bigint * interval '1 microsecond') t"
    " ORDER BY hour DESC LIMIT $2::bigint";
const std::string kSelectAggregates =
    "SELECT " + micros_of("bucket_start") +
    " AS bucket_start, tenant_id::text AS tenant_id, error_code, catalog_entry_id, category,"
    " match_type, failure_count, recovered_count, " +
    micros_of("updated_at") + " AS updated_at FROM failure_aggregates";

constexpr const char* kDeleteOldFailures =
    "DELETE FROM failure_matches WHERE id IN (SELECT id FROM failure_matches"
    " WHERE created_at < $1::timestamptz ORDER BY created_at LIMIT $2::bigint)"
    " RETURNING id";
// A key is claimed with its failure's created_at, so the keys of the failures retention deletes
// are the keys older than the cutoff: a range of idx_fi_created_at (an OR on failure_id, which
// no index covers, made every batch scan the whole table).
constexpr const char* kDeleteOldKeys =
    "DELETE FROM failure_idempotency WHERE (tenant_id, idem_key) IN (SELECT tenant_id, idem_key"
    " FROM failure_idempotency WHERE created_at < $1::timestamptz LIMIT $2::bigint)";

// ---- Row-level security ----------------------------------------------------------------

/// Every tenant, for row-level security: admins, and jobs that span tenants.
constexpr const char* kAllTenants = "*";

/// Sets the tenant that row-level security admits for the rest of this transaction
/// (migration 0004): one tenant's UUID, or `*` for all. Transaction-local, so a pooled or
/// reused session never carries it into the next transaction.
void admit_tenant(pqxx::transaction_base& tx, const std::string& tenant) {
  SqlParams{text(tenant)}.exec(tx, "SELECT set_config('failcat.tenant', $1, true)");
}
void admit_scope(pqxx::transaction_base& tx, const TenantScope& scope) {
  admit_tenant(tx, scope.tenant() ? *scope.tenant() : std::string(kAllTenants));
}

// ---- WHERE clauses ---------------------------------------------------------------------

/// AND-ed conditions whose values live in `params`.
class Conditions {
 public:
  explicit Conditions(SqlParams& params) : params_(params) {}

  void equals(const char* column, const std::string& value, const char* cast) {
    terms_.push_back(std::string(column) + " = " + params_.add(value) + "::" + cast);
  }
  void at_least(const char* column, Micros t) {
    terms_.push_back(std::string(column) + " >= " + params_.add(timestamp(t)) + "::timestamptz");
  }
  void add(std::string term) { terms_.push_back(std::move(term)); }

  void scope(const TenantScope& scope) {
    if (scope.tenant()) equals("tenant_id", *scope.tenant(), "uuid");
  }
  void filter(const FailureFilter& f) {
    if (f.tenant_id) equals("tenant_id", *f.tenant_id, "uuid");
    if (f.run_id) equals("run_id", *f.run_id, "text");
    if (f.error_code) equals("error_code", *f.error_code, "text");
    if (f.category) equals("category", *f.category, "text");
    if (f.status == RecoveryStatus::unrecovered) add("recovery_succeeded = false");
    if (f.status == RecoveryStatus::recovered) add("recovery_succeeded = true");
    if (f.since) at_least("created_at", *f.since);
  }

  /// " WHERE a AND b", or "" with no condition.
  [[nodiscard]] std::string sql() const {
    std::string s;
    for (const auto& t : terms_) s += (s.empty() ? " WHERE " : " AND ") + t;
    return s;
  }

 private:
  SqlParams& params_;
  std::vector<std::string> terms_;
};

/// How long one migration waits for a table lock, and how often it tries.
constexpr const char* kMigrationLockTimeout = "2s";
constexpr int kMigrationLockAttempts = 3;

// ---- Errors ----------------------------------------------------------------------------

/// SQLSTATE classes worth retrying later: connection (08), rollback such as serialization
/// failure or deadlock (40), resources (53), operator intervention incl. statement timeout
/// and shutdown (57), system (58), lock not available (55P03).
bool is_transient_sqlstate(const std::string& state) {
  const std::string cls = state.substr(0, 2);
  return cls == "08" || cls == "40" || cls == "53" || cls == "57" || cls == "58" ||
         state == "55P03";
}

/// SQLSTATE classes that refuse the data itself: data exception (22: a value too long or out
/// of range) and integrity constraint violation (23). The same rows never succeed.
bool is_data_sqlstate(const std::string& state) {
  const std::string cls = state.substr(0, 2);
  return cls == "22" || cls == "23";
}

/// The passwords written in a URL or key=value connection string, to scrub from messages.
std::vector<std::string> passwords_in(const std::string& url) {
  std::vector<std::string> out;
  const auto scheme = url.find("://");
  if (scheme != std::string::npos) {
    const auto at = url.find('@', scheme + 3);
    const auto colon = url.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.push_back(url.substr(colon + 1, at - colon - 1));
    }
  }
  for (auto pos = url.find("password="); pos != std::string::npos;
       pos = url.find("password=", pos + 1)) {
    const auto start = pos + 9;
    const auto end = url.find_first_of(" &", start);
    out.push_back(url.substr(start, end == std::string::npos ? end : end - start));
  }
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

// ---- The store -------------------------------------------------------------------------

class PostgresStore final : public FailureStore {
 public:
  explicit PostgresStore(StoreOptions options)
      : options_(std::move(options)),
        redacted_url_(redact_database_url(options_.database_url)),
        conninfo_(with_network_timeouts(options_.database_url)),
        passwords_(passwords_in(options_.database_url)) {}

  const char* backend() const override { return "postgres"; }

  Result<std::vector<int>> migrate(std::optional<int> up_to) override {
    std::vector<int> applied_now;  // survives a retry so committed versions are reported
    return run<std::vector<int>>("migrate", [&](pqxx::connection& c) -> Result<std::vector<int>> {
      std::optional<MigrationLock> lock;
      try {
        lock.emplace(c, options_.migration_lock_wait_ms);
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() != "55P03") throw;
        return Error::unavailable(
            "migrate: another process is applying migrations to this database (its advisory "
            "lock was held for " +
            std::to_string(options_.migration_lock_wait_ms) + " ms); try again once it is done");
      }
      {
        // Only when missing: a service role that does not own the schema can still start
        // against a database that is already current.
        pqxx::work tx(c);
        if (!tx.exec1(kSchemaMigrationsExists)[0].as<bool>()) tx.exec(kCreateSchemaMigrations);
        tx.commit();
      }
      const std::set<int> done = applied_versions(c);
      for (const auto& m : postgres_migrations()) {
        if (up_to && m.version > *up_to) break;
        if (done.count(m.version) != 0) continue;
        // A migration that waits for a table lock makes every later statement on that table
        // wait behind it: on a busy database (another node's long rollup or bulk change) the
        // whole fleet would stall. It waits kMigrationLockTimeout at most, steps aside, and
        // tries again; after kMigrationLockAttempts the caller hears `unavailable` (a server
        // starts degraded and its storage actors try again later).
        for (int attempt = 1;; ++attempt) {
          try {
            pqxx::work tx(c);
            // A migration may rewrite a large table; the per-request timeout does not apply.
            tx.exec("SET LOCAL statement_timeout = 0");
            tx.exec(std::string("SET LOCAL lock_timeout = '") + kMigrationLockTimeout + "'");
            admit_tenant(tx, kAllTenants);  // a data migration may touch every tenant's rows
            tx.exec(m.sql);
            SqlParams{number(m.version), text(m.name), text(migration_checksum(m))}.exec(
                tx, kInsertMigration);
            tx.commit();
            break;
          } catch (const pqxx::sql_error& e) {
            if (e.sqlstate() != "55P03" || attempt >= kMigrationLockAttempts) throw;
            std::this_thread::sleep_for(std::chrono::seconds(attempt));
          }
        }
        applied_now.push_back(m.version);
      }
      return applied_now;
    });
  }

  Result<std::vector<MigrationStatus>> migration_status() override {
    using Out = std::vector<MigrationStatus>;
    return run<Out>("migration_status", [&](pqxx::connection& c) -> Result<Out> {
      pqxx::read_transaction tx(c);
      struct Row {
        std::string name;
        std::string checksum;
        Micros applied_at;
      };
      std::map<int, Row> applied;
      if (tx.exec1(kSchemaMigrationsExists)[0].as<bool>()) {
        for (const auto& row : tx.exec("SELECT version, name, checksum, " +
                                       micros_of("applied_at") + " FROM schema_migrations")) {
          applied[row[0].as<int>()] =
              Row{row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<Micros>()};
        }
      }
      Out out;
      for (const auto& m : postgres_migrations()) {
        MigrationStatus s;
        s.version = m.version;
        s.name = m.name;
        const auto it = applied.find(m.version);
        s.applied = it != applied.end();
        if (s.applied) {
          s.applied_at = it->second.applied_at;
          s.checksum_differs = it->second.checksum != migration_checksum(m);
          applied.erase(it);
        }
        out.push_back(std::move(s));
      }
      for (const auto& [version, row] : applied) {
        out.push_back(MigrationStatus{version, row.name, true, row.applied_at, false, true});
      }
      return out;
    });
  }

  Result<std::size_t> insert_batch(const std::vector<FailureRecord>& rows) override {
    if (rows.empty()) return std::size_t{0};
    const bool one_tenant = std::all_of(rows.begin(), rows.end(), [&](const FailureRecord& r) {
      return r.tenant_id == rows.front().tenant_id;
    });
    const std::string tenant = one_tenant ? lower_uuid(rows.front().tenant_id) : kAllTenants;
    return run<std::size_t>("insert_batch", [&](pqxx::connection& c) -> Result<std::size_t> {
      pqxx::work tx(c);
      admit_tenant(tx, tenant);
      // Keys are claimed in parameterised chunks (few rows carry one); the rows themselves go
      // in with one COPY (or, for a batch replayed after a crash, through a staging table).
      std::vector<const FailureRecord*> keep;
      keep.reserve(rows.size());
      for (std::size_t begin = 0; begin < rows.size(); begin += kInsertChunkRows) {
        auto kept = claim_keys(tx, rows, begin, std::min(rows.size(), begin + kInsertChunkRows));
        keep.insert(keep.end(), kept.begin(), kept.end());
      }
      const std::size_t inserted = insert_failures(tx, keep, may_copy_directly(tx));
      tx.commit();
      return inserted;
    });
  }

  Result<std::optional<FailureRecord>> get(const TenantScope& scope,
                                           const std::string& id) override {
    using Out = std::optional<FailureRecord>;
    if (!is_uuid(id)) return Out{};
    return run<Out>("get", [&](pqxx::connection& c) -> Result<Out> {
      pqxx::read_transaction tx(c);
      admit_scope(tx, scope);
      return fetch_one(tx, scope, id, "");
    });
  }

  Result<std::optional<FailureRecord>> find_by_idempotency_key(const std::string& tenant_id,
                                                               const std::string& key) override {
    using Out = std::optional<FailureRecord>;
    return run<Out>("find_by_idempotency_key", [&](pqxx::connection& c) -> Result<Out> {
      pqxx::read_transaction tx(c);
      admit_tenant(tx, lower_uuid(tenant_id));
      const auto rows = SqlParams{text(tenant_id), text(key)}.exec(
          tx, "SELECT " + select_list() +
                  " FROM failure_matches WHERE tenant_id = $1::uuid AND id = (SELECT failure_id"
                  " FROM failure_idempotency WHERE tenant_id = $1::uuid AND idem_key = $2)");
      if (rows.empty()) return Out{};
      return Out{read_failure(rows[0])};
    });
  }

  Result<FailurePage> list(const TenantScope& scope, const ListQuery& query) override {
    return run<FailurePage>("list", [&](pqxx::connection& c) -> Result<FailurePage> {
      // One snapshot, so the total and the page agree.
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
      admit_scope(tx, scope);
      SqlParams params;
      Conditions where(params);
      where.scope(scope);
      where.filter(query.filter);
      FailurePage page;
      if (query.with_total) {
        const std::int64_t cap = std::clamp<std::int64_t>(
            query.total_limit, 0, std::numeric_limits<std::int64_t>::max() - 1);
        page.total = count_up_to(tx, params, where, cap + 1);
        page.total_exact = page.total <= cap;
        page.total = std::min(page.total, cap);
      }
      if (query.after) {
        where.add("(created_at, id) < (" + params.add(timestamp(query.after->created_at)) +
                  "::timestamptz, " + params.add(text(query.after->id)) + "::uuid)");
      }
      const std::int64_t limit = std::max<std::int64_t>(query.limit, 0);
      const std::string sql =
          "SELECT " + select_list() + " FROM failure_matches" + where.sql() + " ORDER BY " +
          kListOrder + " LIMIT " + params.add(number(limit + 1)) + "::bigint OFFSET " +
          params.add(number(std::max<std::int64_t>(query.offset, 0))) + "::bigint";
      page.items = read_failures(params.exec(tx, sql));
      if (static_cast<std::int64_t>(page.items.size()) > limit) {
        page.items.resize(static_cast<std::size_t>(limit));
        if (!page.items.empty()) {
          page.next = ListCursor{page.items.back().created_at, page.items.back().id};
        }
      }
      return page;
    });
  }

  Result<FailurePage> unrecovered(const TenantScope& scope,
                                  const UnrecoveredQuery& query) override {
    return run<FailurePage>("unrecovered", [&](pqxx::connection& c) -> Result<FailurePage> {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
      admit_scope(tx, scope);
      SqlParams params;
      Conditions where(params);
      where.scope(scope);
      where.add("recovery_succeeded = false");
      if (query.tenant_id) where.equals("tenant_id", *query.tenant_id, "uuid");
      if (query.category) where.equals("category", *query.category, "text");
      if (query.since) where.at_least("created_at", *query.since);
      FailurePage page;
      page.total = count(tx, params, where);
      const std::string sql =
          "SELECT " + select_list() + " FROM failure_matches" + where.sql() + " ORDER BY " +
          kSeverityRank + ", " + kListOrder + " LIMIT " +
          params.add(number(std::max<std::int64_t>(query.limit, 0))) + "::bigint OFFSET " +
          params.add(number(std::max<std::int64_t>(query.offset, 0))) + "::bigint";
      page.items = read_failures(params.exec(tx, sql));
      return page;
    });
  }

  Result<RecoveryUpdateResult> update_recovery(
      const TenantScope& scope, const std::string& id, const RecoveryUpdate& update,
      const std::optional<std::vector<Micros>>& if_updated_at) override {
    if (!is_uuid(id)) return RecoveryUpdateResult{};
    return run<RecoveryUpdateResult>(
        "update_recovery", [&](pqxx::connection& c) -> Result<RecoveryUpdateResult> {
          pqxx::work tx(c);
          admit_scope(tx, scope);
          auto current = fetch_one(tx, scope, id, " FOR UPDATE");
          if (!current) return RecoveryUpdateResult{};
          if (if_updated_at && std::find(if_updated_at->begin(), if_updated_at->end(),
                                         current->updated_at) == if_updated_at->end()) {
            return RecoveryUpdateResult{UpdateOutcome::precondition_failed, std::move(current)};
          }
          const auto rows = recovery_params(update, {text(current->id)})
                                .exec(tx, std::string(kUpdateRecovery) + select_list());
          FailureRecord updated = read_failure(rows.at(0));
          SqlParams{text(updated.id),
                    text(updated.tenant_id),
                    text(audit_actor(update)),
                    flag(current->recovery_attempted),
                    flag(current->recovery_succeeded),
                    flag(update.recovery_attempted),
                    flag(update.recovery_succeeded),
                    text(update.notes),
                    timestamp(update.at)}
              .exec(tx, kInsertRecoveryEvent);
          tx.commit();
          return RecoveryUpdateResult{UpdateOutcome::updated, std::move(updated)};
        });
  }

  Result<std::int64_t> bulk_update_recovery(const TenantScope& scope, const FailureFilter& filter,
                                            const RecoveryUpdate& update) override {
    return run<std::int64_t>(
        "bulk_update_recovery", [&](pqxx::connection& c) -> Result<std::int64_t> {
          pqxx::work tx(c);
          // Every matching failure, however many: it may take longer than a read (up to a
          // minute, or the statement timeout if longer), and its caller hears how it ended
          // (StoreCall). Bounded still: it holds one of the pool's connections meanwhile.
          // Waiting for a row's lock stays bounded by the statement timeout.
          tx.exec("SET LOCAL statement_timeout = " +
                  std::to_string(std::max(options_.statement_timeout_ms, kBulkTimeoutMs)));
          tx.exec("SET LOCAL lock_timeout = " + std::to_string(options_.statement_timeout_ms));
          admit_scope(tx, scope);
          SqlParams params = recovery_params(update, {text(audit_actor(update))});
          Conditions where(params);
          where.scope(scope);
          where.filter(filter);
          // A row already in the state asked for keeps its recovery time, notes and ETag (a
          // retried or repeated bulk change changes nothing twice).
          where.add("(recovery_attempted <> $1::boolean OR recovery_succeeded <> $2::boolean)");
          std::string sql = kBulkRecoveryTemplate;
          sql.replace(sql.find("{WHERE}"), 7, where.sql());
          const auto result = params.exec(tx, sql);
          tx.commit();
          return static_cast<std::int64_t>(result.affected_rows());
        });
  }

  Result<std::vector<RecoveryEvent>> recovery_events(const TenantScope& scope,
                                                     const std::string& failure_id) override {
    using Out = std::vector<RecoveryEvent>;
    if (!is_uuid(failure_id)) return Out{};
    return run<Out>("recovery_events", [&](pqxx::connection& c) -> Result<Out> {
      pqxx::read_transaction tx(c);
      admit_scope(tx, scope);
      SqlParams params;
      Conditions where(params);
      where.equals("failure_id", failure_id, "uuid");
      where.scope(scope);
      Out out;
      for (const auto& row : params.exec(tx, kSelectEvents + where.sql() + " ORDER BY event_id")) {
        RecoveryEvent e;
        e.event_id = row["event_id"].as<std::int64_t>();
        e.failure_id = row["failure_id"].as<std::string>();
        e.tenant_id = row["tenant_id"].as<std::string>();
        e.actor = row["actor"].as<std::string>();
        e.old_attempted = row["old_attempted"].as<bool>();
        e.old_succeeded = row["old_succeeded"].as<bool>();
        e.new_attempted = row["new_attempted"].as<bool>();
        e.new_succeeded = row["new_succeeded"].as<bool>();
        e.notes = opt_text(row["notes"]);
        e.at = row["at"].as<Micros>();
        out.push_back(std::move(e));
      }
      return out;
    });
  }

  Result<FailureStats> stats(const TenantScope& scope, const StatsQuery& query) override {
    return run<FailureStats>("stats", [&](pqxx::connection& c) -> Result<FailureStats> {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
      admit_scope(tx, scope);
      SqlParams params;
      Conditions where(params);
      where.scope(scope);
      if (query.tenant_id) where.equals("tenant_id", *query.tenant_id, "uuid");
      where.at_least("created_at", query.since);
      const std::string window = " FROM failure_matches" + where.sql();

      FailureStats s;
      for (const auto& row :
           params.exec(tx, std::string(kStatsGroups) + where.sql() + " GROUP BY 1, 2, 3")) {
        const auto n = row["total"].as<std::int64_t>();
        s.total += n;
        s.matched += row["matched"].as<std::int64_t>();
        s.recovery_attempted += row["attempted"].as<std::int64_t>();
        s.recovery_succeeded += row["succeeded"].as<std::int64_t>();
        s.recovery_failed += row["failed"].as<std::int64_t>();
        if (!row["category"].is_null()) s.by_category[row["category"].as<std::string>()] += n;
        if (!row["severity"].is_null()) s.by_severity[row["severity"].as<std::string>()] += n;
        if (!row["match_type"].is_null()) {
          s.by_match_type[row["match_type"].as<std::string>()] += n;
        }
      }
      s.missed = s.total - s.matched;
      s.recovery_pending = s.total - s.recovery_succeeded;  // recovery_succeeded is NOT NULL

      // Ties break by bytes (COLLATE "C"), as on SQLite, whatever the database's locale.
      for (const auto& row : params.exec(tx, "SELECT error_code, count(*)" + window +
                                                 " GROUP BY 1 ORDER BY 2 DESC, error_code "
                                                 "COLLATE \"C\" LIMIT " +
                                                 std::to_string(query.top_n))) {
        s.top_error_codes.push_back({row[0].as<std::string>(), row[1].as<std::int64_t>()});
      }
      s.top_unmatched = top_unmatched(
          params.exec(
              tx,
              "WITH v AS (SELECT error_code, coalesce(error_message, '') AS msg, count(*) AS n" +
                  window +
                  " AND catalog_entry_id IS NULL GROUP BY 1, 2), "
                  "l AS (SELECT error_code, msg, n, CASE WHEN octet_length(msg) = "
                  "char_length(msg) THEN lower(msg) ELSE translate(msg, "
                  "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END AS low "
                  "FROM v), "
                  // The tokenizer reads a message's first 4 KiB: a longer one whose first
                  // 4,096 characters are ASCII (those bytes exactly) is keyed by them alone.
                  "c AS (SELECT error_code, msg, n, CASE WHEN octet_length(low) > 4096 AND "
                  "octet_length(left(low, 4096)) = 4096 THEN left(low, 4096) ELSE low END AS low "
                  "FROM l), "
                  "g AS (SELECT error_code, msg, " +
                  kUnmatchedKey +
                  " AS norm, n FROM c), "
                  "r AS (SELECT error_code, msg, n, norm, sum(n) OVER (PARTITION BY "
                  "error_code, norm) AS total, row_number() OVER (PARTITION BY error_code, norm "
                  "ORDER BY n DESC, msg COLLATE \"C\") AS k FROM g) "
                  "SELECT error_code, msg, total, n FROM r WHERE k = 1 ORDER BY total DESC, "
                  "error_code COLLATE \"C\", norm COLLATE \"C\" LIMIT " +
                  std::to_string(kUnmatchedGroupLimit)),
          query.top_n);
      return s;
    });
  }

  Result<std::int64_t> rollup_aggregates(Micros from, Micros to, Micros now) override {
    const Micros first_bucket = floor_hour(from);
    const Micros end = floor_hour(to) == to ? to : floor_hour(to) + kMicrosPerHour;
    if (end <= first_bucket) return std::int64_t{0};
    return run<std::int64_t>("rollup_aggregates", [&](pqxx::connection& c) -> Result<std::int64_t> {
      pqxx::work tx(c);
      tx.exec("SET LOCAL statement_timeout = " +
              std::to_string(std::max(options_.statement_timeout_ms, kJobTimeoutMs)));
      admit_tenant(tx, kAllTenants);  // rollups span every tenant
      SqlParams{timestamp(first_bucket), timestamp(end)}.exec(tx, kDeleteAggregates);
      const auto written = SqlParams{timestamp(first_bucket), timestamp(end), timestamp(now)}.exec(
          tx, kRollupAggregates);
      tx.commit();
      return static_cast<std::int64_t>(written.affected_rows());
    });
  }

  Result<std::vector<Micros>> hours_recovered_within(Micros window, std::int64_t limit) override {
    using Out = std::vector<Micros>;
    return run<Out>("hours_recovered_within", [&](pqxx::connection& c) -> Result<Out> {
      pqxx::read_transaction tx(c);
      admit_scope(tx, TenantScope::all());  // rollups span every tenant
      Out hours;
      for (const auto& row :
           SqlParams{number(std::max<Micros>(window, 0)), number(std::max<std::int64_t>(limit, 0))}
               .exec(tx, kHoursRecoveredWithin)) {
        hours.push_back(row[0].as<Micros>());
      }
      std::reverse(hours.begin(), hours.end());
      return hours;
    });
  }

  Result<std::vector<AggregateRow>> aggregates(const TenantScope& scope,
                                               const AggregateQuery& query) override {
    using Out = std::vector<AggregateRow>;
    return run<Out>("aggregates", [&](pqxx::connection& c) -> Result<Out> {
      pqxx::read_transaction tx(c);
      admit_scope(tx, scope);
      SqlParams params;
      Conditions where(params);
      where.scope(scope);
      if (query.tenant_id) where.equals("tenant_id", *query.tenant_id, "uuid");
      where.at_least("bucket_start", query.since);
      if (query.until) {
        where.add("bucket_start < " + params.add(timestamp(*query.until)) + "::timestamptz");
      }
      const std::string sql = kSelectAggregates + where.sql() +
                              " ORDER BY bucket_start DESC, tenant_id, error_code COLLATE \"C\","
                              " catalog_entry_id COLLATE \"C\", category COLLATE \"C\","
                              " match_type COLLATE \"C\" LIMIT " +
                              params.add(number(std::max<std::int64_t>(query.limit, 0))) +
                              "::bigint";
      Out out;
      for (const auto& row : params.exec(tx, sql)) {
        AggregateRow a;
        a.bucket_start = row["bucket_start"].as<Micros>();
        a.tenant_id = row["tenant_id"].as<std::string>();
        a.error_code = row["error_code"].as<std::string>();
        a.catalog_entry_id = row["catalog_entry_id"].as<std::string>();
        a.category = row["category"].as<std::string>();
        a.match_type = row["match_type"].as<std::string>();
        a.failure_count = row["failure_count"].as<std::int64_t>();
        a.recovered_count = row["recovered_count"].as<std::int64_t>();
        a.updated_at = row["updated_at"].as<Micros>();
        out.push_back(std::move(a));
      }
      return out;
    });
  }

  Result<std::int64_t> delete_older_than(Micros cutoff, std::int64_t batch_limit) override {
    if (batch_limit <= 0) return std::int64_t{0};
    return run<std::int64_t>("delete_older_than", [&](pqxx::connection& c) -> Result<std::int64_t> {
      pqxx::work tx(c);
      tx.exec("SET LOCAL statement_timeout = " +
              std::to_string(std::max(options_.statement_timeout_ms, kJobTimeoutMs)));
      admit_tenant(tx, kAllTenants);  // retention spans every tenant
      const auto deleted =
          SqlParams{timestamp(cutoff), number(batch_limit)}.exec(tx, kDeleteOldFailures);
      // As many keys as failures, and as many again: old keys never lag behind their failures.
      const auto key_limit = batch_limit + static_cast<std::int64_t>(deleted.size());
      SqlParams{timestamp(cutoff), number(key_limit)}.exec(tx, kDeleteOldKeys);
      tx.commit();
      return static_cast<std::int64_t>(deleted.size());
    });
  }

  Status ping() override {
    return run<Unit>("ping", [&](pqxx::connection& c) -> Result<Unit> {
      pqxx::nontransaction tx(c);
      tx.exec("SELECT 1");
      return Unit{};
    });
  }

  Result<bool> try_acquire_leadership() override {
    return run<bool>(kLeadershipOperation, [&](pqxx::connection& c) -> Result<bool> {
      pqxx::nontransaction tx(c);
      if (leader_generation_ == connection_generation_) {
        tx.exec("SELECT 1");  // the lock lives as long as this session
        return true;
      }
      const bool acquired =
          tx.exec1("SELECT pg_try_advisory_lock(" + std::to_string(kLeaderLockKey) + ")")[0]
              .as<bool>();
      leader_generation_ = acquired ? connection_generation_ : 0;
      return acquired;
    });
  }

 private:
  /// Holds the migration advisory lock for its lifetime. Session-level, so it outlives the
  /// transaction that took it (which lifts the statement timeout while waiting).
  class MigrationLock {
   public:
    MigrationLock(pqxx::connection& c, int wait_ms) : c_(c) {
      pqxx::work tx(c_);
      tx.exec("SET LOCAL statement_timeout = 0");
      // A wait without bound held `failcat migrate` and a starting server for as long as
      // another node's migration (or a session that died holding the lock) lasted.
      tx.exec("SET LOCAL lock_timeout = " + std::to_string(std::max(wait_ms, 1)));
      tx.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
      tx.commit();
    }
    ~MigrationLock() {
      try {
        if (!c_.is_open()) return;  // the server released it with the session
        pqxx::nontransaction tx(c_);
        tx.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
      } catch (...) {
        // A failed unlock means a dead session, and the server drops its locks with it.
      }
    }
    MigrationLock(const MigrationLock&) = delete;
    MigrationLock& operator=(const MigrationLock&) = delete;

   private:
    pqxx::connection& c_;
  };

  /// Runs `body` on the connection, opening it first if needed, and turns every exception
  /// into an Error. A connection found broken is dropped; the call is retried once on a fresh
  /// one when it was the old connection that broke (nothing was committed: a commit that
  /// may have happened surfaces as in_doubt_error, which is never retried).
  template <class T, class F>
  Result<T> run(const char* operation, F&& body) {
    for (int attempt = 0;; ++attempt) {
      const bool reused = conn_ != nullptr;
      try {
        pqxx::connection& c = connection();
        // The periodic jobs run on the session that holds the leader lock; once that session
        // is gone (a failover, a reset, a terminated backend) so is the lock, and another node
        // may have taken it: nothing of theirs runs on a new session until it is taken again.
        if (leader_generation_ != 0 && leader_generation_ != connection_generation_ &&
            std::string_view(operation) != kLeadershipOperation) {
          return Error::unavailable(
              std::string("postgres ") + operation +
              ": the leader lock went with a lost database session; the periodic jobs resume "
              "once this node leads again");
        }
        return body(c);
      } catch (const pqxx::in_doubt_error& e) {
        conn_.reset();
        return Error::unavailable(message(operation, "commit outcome unknown: ", e));
      } catch (const pqxx::broken_connection& e) {
        conn_.reset();
        if (reused && attempt == 0) continue;
        return Error::unavailable(message(operation, "", e));
      } catch (const pqxx::sql_error& e) {
        if (conn_ && !conn_->is_open()) {
          conn_.reset();
          if (reused && attempt == 0) continue;
          return Error::unavailable(message(operation, "", e));
        }
        if (is_transient_sqlstate(e.sqlstate())) {
          return Error::unavailable(message(operation, "", e));
        }
        if (is_data_sqlstate(e.sqlstate())) {
          return Error{ErrorKind::rejected, message(operation, "", e), {}};
        }
        return Error{ErrorKind::internal, message(operation, "", e), {}};
      } catch (const std::exception& e) {
        if (conn_ && !conn_->is_open()) {
          conn_.reset();
          if (reused && attempt == 0) continue;
          return Error::unavailable(message(operation, "", e));
        }
        return Error{ErrorKind::internal, message(operation, "", e), {}};
      } catch (...) {
        conn_.reset();
        return Error{
            ErrorKind::internal, std::string("postgres ") + operation + ": unknown error", {}};
      }
    }
  }

  pqxx::connection& connection() {
    if (!conn_) {
      auto c = std::make_unique<pqxx::connection>(conninfo_);
      // libpqxx would otherwise reopen a closed connection by itself, unseen by run(): the
      // session-level leader lock would be gone while this store still counted it held.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      c->inhibit_reactivation(true);
#pragma GCC diagnostic pop
      // Session settings, set again on every new connection this store opens.
      c->set_variable("TimeZone", "'UTC'");
      c->set_variable("statement_timeout", std::to_string(options_.statement_timeout_ms));
      c->set_variable("application_name", c->quote(options_.application_name));
      c->set_variable("client_min_messages", "warning");
      // The WAL in front of the store is trimmed once a batch's commit returns, so that commit
      // must be durable: a server, database or role set to `synchronous_commit = off` (a common
      // tuning) would lose acknowledged rows in a crash. Stronger settings stay as they are.
      if (c->get_variable("synchronous_commit") == "off") {
        c->set_variable("synchronous_commit", "on");
      }
      conn_ = std::move(c);
      ++connection_generation_;
    }
    return *conn_;
  }

  std::string message(const char* operation, const char* prefix, const std::exception& e) const {
    std::string what = e.what();
    while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
    for (const auto& secret : passwords_) {
      for (auto pos = what.find(secret); pos != std::string::npos; pos = what.find(secret, pos)) {
        what.replace(pos, secret.size(), "***");
      }
    }
    return std::string("postgres ") + operation + " (" + redacted_url_ + "): " + prefix + what;
  }

  static std::set<int> applied_versions(pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::set<int> out;
    for (const auto& row : tx.exec("SELECT version FROM schema_migrations")) {
      out.insert(row[0].as<int>());
    }
    return out;
  }

  /// Matching rows, counting no further than `cap`: the scan stops after `cap` rows.
  static std::int64_t count_up_to(pqxx::transaction_base& tx, const SqlParams& params,
                                  const Conditions& where, std::int64_t cap) {
    return params
        .exec(tx, "SELECT count(*) FROM (SELECT 1 FROM failure_matches" + where.sql() + " LIMIT " +
                      std::to_string(cap) + ") AS capped")
        .at(0)[0]
        .as<std::int64_t>();
  }

  static std::int64_t count(pqxx::transaction_base& tx, const SqlParams& params,
                            const Conditions& where) {
    return params.exec(tx, "SELECT count(*) FROM failure_matches" + where.sql())
        .at(0)[0]
        .as<std::int64_t>();
  }

  static std::optional<FailureRecord> fetch_one(pqxx::transaction_base& tx,
                                                const TenantScope& scope, const std::string& id,
                                                const char* suffix) {
    SqlParams params;
    Conditions where(params);
    where.equals("id", id, "uuid");
    where.scope(scope);
    const auto rows =
        params.exec(tx, "SELECT " + select_list() + " FROM failure_matches" + where.sql() + suffix);
    if (rows.empty()) return std::nullopt;
    return read_failure(rows[0]);
  }

  /// $1..$6 of the recovery SET clause, then `rest`.
  static SqlParams recovery_params(const RecoveryUpdate& u, std::initializer_list<SqlValue> rest) {
    SqlParams p{flag(u.recovery_attempted),
                flag(u.recovery_succeeded),
                u.recovery_succeeded ? timestamp(u.at) : SqlValue{},
                text(u.recovered_by),
                text(u.notes),
                timestamp(u.at)};
    for (const auto& v : rest) p.add(v);
    return p;
  }

  /// Claims the idempotency keys of rows[begin, end) for their failures and returns the rows
  /// to insert. A key another failure owns already keeps its owner; the row is stored all the
  /// same (it was answered with its own id: a retry that could not be checked against the
  /// database in time — during an outage, after a restart, or on two nodes at once — and an
  /// acknowledged failure is never dropped), unless it asks to be skipped then (an import).
  static std::vector<const FailureRecord*> claim_keys(pqxx::transaction_base& tx,
                                                      const std::vector<FailureRecord>& rows,
                                                      std::size_t begin, std::size_t end) {
    const auto claim = [](const std::string& tenant, const std::string& key,
                          const std::string& id) {
      return lower_uuid(tenant) + '\n' + lower_uuid(id) + '\n' + key;
    };
    SqlParams params;
    std::string values;
    for (std::size_t i = begin; i < end; ++i) {
      const auto& r = rows[i];
      if (!r.idempotency_key) continue;
      values += (values.empty() ? "(" : ", (") + params.add(text(r.tenant_id)) + "::uuid, " +
                params.add(text(*r.idempotency_key)) + ", " + params.add(text(r.id)) + "::uuid, " +
                params.add(timestamp(r.created_at)) + "::timestamptz)";
    }
    std::unordered_set<std::string> claimed;
    if (!values.empty()) {
      const auto result = params.exec(
          tx,
          "INSERT INTO failure_idempotency (tenant_id, idem_key, failure_id, created_at)"
          " VALUES " +
              values +
              " ON CONFLICT (tenant_id, idem_key) DO NOTHING"
              " RETURNING tenant_id::text, idem_key, failure_id::text");
      for (const auto& row : result) {
        claimed.insert(
            claim(row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()));
      }
    }
    std::vector<const FailureRecord*> keep;
    for (std::size_t i = begin; i < end; ++i) {
      const auto& r = rows[i];
      // (A key owned by this very failure is a replay: the row was stored with its key.)
      if (r.idempotency_key && r.skip_if_key_owned &&
          claimed.count(claim(r.tenant_id, *r.idempotency_key, r.id)) == 0) {
        continue;
      }
      keep.push_back(&r);
    }
    return keep;
  }

  /// PostgreSQL refuses COPY FROM into a table whose row-level security applies to the
  /// session's role (a non-owner service role); such sessions always stage. Asked once per
  /// connection.
  bool may_copy_directly(pqxx::transaction_base& tx) {
    if (direct_copy_generation_ != connection_generation_) {
      direct_copy_ = !tx.exec1("SELECT row_security_active('failure_matches')")[0].as<bool>();
      direct_copy_generation_ = connection_generation_;
    }
    return direct_copy_;
  }

  static std::size_t insert_failures(pqxx::transaction_base& tx,
                                     const std::vector<const FailureRecord*>& rows,
                                     bool copy_directly) {
    if (rows.empty()) return 0;
    if (rows.size() < kCopyMinRows) return insert_failures_with_values(tx, rows);
    // Almost every batch is new rows: COPY them straight into the table. A batch replayed
    // after a crash may hold ids that are already stored; then the savepoint is rolled back
    // and the rows go through the staging table with ON CONFLICT DO NOTHING.
    if (copy_directly) {
      try {
        pqxx::subtransaction direct(dynamic_cast<pqxx::dbtransaction&>(tx), "copy_direct");
        copy_rows(direct, "failure_matches", rows);
        direct.commit();
        return rows.size();
      } catch (const pqxx::unique_violation&) {
        // Some ids are stored already: stage the batch instead.
      }
    }
    // ON COMMIT DELETE ROWS empties it at every commit; the table lives as long as the session.
    tx.exec(
        "CREATE TEMP TABLE IF NOT EXISTS failcat_staging (LIKE failure_matches INCLUDING "
        "DEFAULTS) ON COMMIT DELETE ROWS");
    copy_rows(tx, "failcat_staging", rows);
    const auto result =
        tx.exec("INSERT INTO failure_matches (" + insert_column_list() + ") SELECT " +
                insert_column_list() + " FROM failcat_staging ON CONFLICT (id) DO NOTHING");
    return static_cast<std::size_t>(result.affected_rows());
  }

  /// Streams `rows` into `table` with COPY (text format; NULLs as \N).
  static void copy_rows(pqxx::transaction_base& tx, const std::string& table,
                        const std::vector<const FailureRecord*>& rows) {
    static const std::vector<std::string> names = [] {
      std::vector<std::string> n;
      for (const auto& col : failure_columns()) n.emplace_back(col.name);
      return n;
    }();
    pqxx::stream_to copy{tx, table, names};
    std::array<const char*, kFailureColumns> fields{};
    for (const FailureRecord* r : rows) {
      const auto values = column_values(*r);
      for (std::size_t i = 0; i < kFailureColumns; ++i) {
        fields[i] = values[i] ? values[i]->c_str() : nullptr;
      }
      copy << fields;
    }
    copy.complete();
  }

  static std::size_t insert_failures_with_values(pqxx::transaction_base& tx,
                                                 const std::vector<const FailureRecord*>& rows) {
    const auto& columns = failure_columns();
    SqlParams params;
    std::string sql = "INSERT INTO failure_matches (" + insert_column_list() + ") VALUES ";
    bool first_row = true;
    for (const FailureRecord* r : rows) {
      auto values = column_values(*r);
      sql += first_row ? "(" : ", (";
      first_row = false;
      for (std::size_t i = 0; i < values.size(); ++i) {
        sql += (i == 0 ? "" : ", ") + params.add(std::move(values[i])) + "::" + columns[i].cast;
      }
      sql += ")";
    }
    sql += " ON CONFLICT (id) DO NOTHING RETURNING id";
    return params.exec(tx, sql).size();
  }

  static std::vector<UnmatchedSignature> top_unmatched(const pqxx::result& result,
                                                       std::size_t top_n) {
    std::vector<UnmatchedMessageCount> rows;
    rows.reserve(result.size());
    for (const auto& row : result) {
      rows.push_back({row[0].as<std::string>(), opt_text(row[1]).value_or(""),
                      row[2].as<std::int64_t>(), row[3].as<std::int64_t>()});
    }
    return group_unmatched(rows, top_n);
  }

  StoreOptions options_;
  std::string redacted_url_;
  std::string conninfo_;  ///< What libpq connects with (with_network_timeouts).
  std::vector<std::string> passwords_;
  std::unique_ptr<pqxx::connection> conn_;
  std::uint64_t connection_generation_ = 0;
  std::uint64_t leader_generation_ = 0;  ///< Generation that holds the leader lock (0: none).
  std::uint64_t direct_copy_generation_ = 0;
  bool direct_copy_ = false;
};

}  // namespace

std::string with_network_timeouts(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &error);
  if (parsed == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return url;
  }
  // Only what the string sets explicitly (no environment, no defaults), in libpq's order.
  std::vector<std::pair<std::string, std::string>> given;
  for (const PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && o->val[0] != '\0') given.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(parsed);
  const auto has = [&](std::string_view name) {
    for (const auto& [k, v] : given) {
      if (k == name) return true;
    }
    return false;
  };
  if (has("service")) return url;
  std::string out;
  const auto add = [&out](const std::string& name, const std::string& value) {
    if (!out.empty()) out += ' ';
    out += name + "='";
    for (char c : value) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    out += '\'';
  };
  for (const auto& [name, value] : given) add(name, value);
  static constexpr std::pair<const char*, const char*> kDefaults[] = {
      {"connect_timeout", "10"},
      {"keepalives_idle", "30"},
      {"keepalives_interval", "10"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", "60000"}};
  for (const auto& [name, value] : kDefaults) {
    if (has(name)) continue;
    if (std::string_view(name) == "connect_timeout" && std::getenv("PGCONNECT_TIMEOUT")) continue;
    add(name, value);
  }
  return out;
}

std::unique_ptr<FailureStore> make_postgres_store(const StoreOptions& options) {
  return std::make_unique<PostgresStore>(options);
}

}  // namespace failcat
