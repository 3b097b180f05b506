// PostgreSQL baselines for the same rows the pipeline stores:
//   pg-copy    one COPY ... FROM STDIN of every row through libpq, the fastest way in;
//   pg-insert  the seed's design: one INSERT per failure in its own transaction, behind the
//              circuit breaker, over a pool of connections.
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/circuit_breaker.hpp"
#include "core/clock.hpp"
#include "core/uuid.hpp"
#include "load/arguments.hpp"
#include "load/commands.hpp"
#include "load/failure_rows.hpp"
#include "storage/store_factory.hpp"

namespace failcat::load {
namespace {

constexpr const char* kHelp =
    "usage: failcat-load pg-copy|pg-insert [flags]\n"
    "  --database-url URL   PostgreSQL (default $DATABASE_URL); the schema is migrated first\n"
    "  --count N            rows (default 200000)\n"
    "  --duration D         pg-insert: stop after D (default 20s)\n"
    "  --connections N      pg-insert: connections, one thread each (default 4)\n"
    "  --spread-hours H     pg-copy: spread created_at evenly over the last H hours (default:\n"
    "                       every row now), to fill a table for read benchmarks\n"
    "  --catalog FILE, --seed S, --miss-ratio R   as for generate\n"
    "  --json               print the report as JSON on stdout\n";

constexpr const char* kColumns =
    "id, run_id, tenant_id, error_code, error_message, catalog_entry_id, match_type, "
    "match_confidence, category, severity, is_retryable, recovery_mode, recovery_suggestion, "
    "recovery_attempted, recovery_succeeded, recovered_at, recovered_by, recovery_notes, "
    "skill_id, step_index, context_json, created_at, updated_at";

void copy_text(std::string& out, const std::string& s) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

void copy_field(std::string& out, const std::optional<std::string>& v) {
  if (v) {
    copy_text(out, *v);
  } else {
    out += "\\N";
  }
}

/// One row in COPY text format.
void copy_row(std::string& out, const FailureRecord& r) {
  const auto tab = [&] { out += '\t'; };
  copy_text(out, r.id), tab();
  copy_text(out, r.run_id), tab();
  copy_text(out, r.tenant_id), tab();
  copy_text(out, r.error_code), tab();
  copy_field(out, r.error_message), tab();
  copy_field(out, r.catalog_entry_id), tab();
  copy_field(out, r.match_type), tab();
  out += r.match_confidence ? std::to_string(*r.match_confidence) : "\\N", tab();
  copy_field(out, r.category), tab();
  copy_field(out, r.severity), tab();
  out += r.is_retryable ? "t" : "f", tab();
  copy_field(out, r.recovery_mode), tab();
  copy_field(out, r.recovery_suggestion), tab();
  out += r.recovery_attempted ? "t" : "f", tab();
  out += r.recovery_succeeded ? "t" : "f", tab();
  out += r.recovered_at ? format_rfc3339(*r.recovered_at) : "\\N", tab();
  copy_field(out, r.recovered_by), tab();
  copy_field(out, r.recovery_notes), tab();
  copy_field(out, r.skill_id), tab();
  out += r.step_index ? std::to_string(*r.step_index) : "\\N", tab();
  copy_field(out, r.context_json), tab();
  out += format_rfc3339(r.created_at), tab();
  out += format_rfc3339(r.updated_at);
  out += '\n';
}

double copy_rows(const std::string& url, const std::vector<FailureRecord>& rows) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string e = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("connect: " + e);
  }
  const auto fail = [&](const std::string& what) {
    std::string e = what + ": " + PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error(e);
  };
  const auto started = std::chrono::steady_clock::now();
  PGresult* res =
      PQexec(conn, (std::string("COPY failure_matches (") + kColumns + ") FROM STDIN").c_str());
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    PQclear(res);
    fail("COPY");
  }
  PQclear(res);
  std::string chunk;
  for (const auto& r : rows) {
    copy_row(chunk, r);
    if (chunk.size() > (256u << 10)) {
      if (PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) fail("copy data");
      chunk.clear();
    }
  }
  if (!chunk.empty() && PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) {
    fail("copy data");
  }
  if (PQputCopyEnd(conn, nullptr) != 1) fail("copy end");
  while ((res = PQgetResult(conn)) != nullptr) {
    const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) fail("COPY result");
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  PQfinish(conn);
  return secs;
}

struct InsertRun {
  std::uint64_t inserted = 0;
  std::uint64_t failed = 0;
  std::uint64_t refused = 0;  ///< Breaker open: the seed dropped these.
};

InsertRun insert_rows(const StoreOptions& store_options, const std::vector<FailureRecord>& rows,
                      int connections, double duration, double& seconds) {
  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  InsertRun total;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline =
      started + std::chrono::milliseconds(static_cast<std::int64_t>(duration * 1000));
  std::vector<std::thread> workers;
  for (int t = 0; t < connections; ++t) {
    workers.emplace_back([&] {
      SystemClock clock;
      CircuitBreaker breaker(clock);
      auto store = make_postgres_store(store_options);
      InsertRun mine;
      for (;;) {
        const std::size_t i = next.fetch_add(1);
        if (i >= rows.size() || g_stop_requested.load() ||
            std::chrono::steady_clock::now() >= deadline) {
          break;
        }
        if (!breaker.allow_request()) {
          ++mine.refused;
          continue;
        }
        const auto inserted = store->insert_batch({rows[i]});
        if (inserted) {
          breaker.record_success();
          mine.inserted += *inserted;
        } else {
          breaker.record_failure();
          ++mine.failed;
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      total.inserted += mine.inserted;
      total.failed += mine.failed;
      total.refused += mine.refused;
    });
  }
  for (auto& w : workers) w.join();
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return total;
}

}  // namespace

int pg_baseline_command(const std::string& which, const std::vector<std::string>& argv) {
  try {
    Arguments args(argv, {"json", "help"},
                   {"database-url", "count", "duration", "connections", "catalog", "seed",
                    "miss-ratio", "spread-hours"});
    if (args.has("help")) {
      std::cout << kHelp;
      return kExitOk;
    }
    install_stop_handler();
    const char* env = std::getenv("DATABASE_URL");
    StoreOptions store_options;
    store_options.database_url = args.text("database-url", env ? env : "");
    store_options.application_name = "failcat-load";
    if (!is_postgres_url(store_options.database_url)) {
      throw UsageError("--database-url (or DATABASE_URL) must name a PostgreSQL database");
    }
    const auto count = static_cast<std::size_t>(args.integer("count", 200'000, 1, 100'000'000));
    const auto catalog_snapshot = catalog_argument(args);
    GeneratorOptions gen = generator_arguments(args);
    gen.runs = 1000;
    {
      auto store = make_postgres_store(store_options);
      if (auto migrated = store->migrate(); !migrated) {
        throw std::runtime_error("migrations failed: " + migrated.error().message);
      }
    }
    SystemClock clock;
    auto rows =
        make_rows(generate_inputs(catalog_snapshot, gen, count), *catalog_snapshot, clock.now());
    if (const auto hours = args.integer("spread-hours", 0, 0, 24 * 365); hours > 0) {
      // Oldest first, so one generator keeps every id in time order.
      const Micros span = hours * kMicrosPerHour;
      const Micros start = clock.now() - span;
      UuidV7Generator ids;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        auto& r = rows[i];
        r.created_at =
            start + static_cast<Micros>(static_cast<double>(span) * static_cast<double>(i) /
                                        static_cast<double>(rows.size()));
        r.updated_at = r.created_at;
        r.id = ids.next(r.created_at / 1000);
      }
    }
    nlohmann::json report = {{"mode", which}};
    if (which == "pg-copy") {
      const double secs = copy_rows(store_options.database_url, rows);
      report["rows"] = rows.size();
      report["seconds"] = secs;
      report["rows_per_s"] = static_cast<double>(rows.size()) / secs;
      std::cerr << "COPY of " << rows.size() << " rows: " << secs
                << " s = " << static_cast<std::uint64_t>(rows.size() / secs) << " rows/s\n";
    } else {
      const int connections = static_cast<int>(args.integer("connections", 4, 1, 64));
      double secs = 0;
      const auto run =
          insert_rows(store_options, rows, connections, args.seconds("duration", 20), secs);
      report["rows"] = run.inserted;
      report["failed"] = run.failed;
      report["refused_by_breaker"] = run.refused;
      report["connections"] = connections;
      report["seconds"] = secs;
      report["rows_per_s"] = static_cast<double>(run.inserted) / secs;
      std::cerr << "one INSERT per transaction over " << connections
                << " connections: " << run.inserted << " rows in " << secs
                << " s = " << static_cast<std::uint64_t>(run.inserted / secs) << " rows/s\n";
    }
    if (args.has("json")) std::cout << report.dump(2) << "\n";
    return kExitOk;
  } catch (const UsageError& e) {
    std::cerr << "failcat-load " << which << ": " << e.what() << "\n" << kHelp;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "failcat-load " << which << ": " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace failcat::load
