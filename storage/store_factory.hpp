#pragma once

#include <memory>
#include <string>

#include "core/result.hpp"
#include "storage/failure_store.hpp"

namespace failcat {

/// What a store needs to connect; cli/ fills it from the validated config.
struct StoreOptions {
  /// `postgresql://…` selects PostgreSQL; empty selects SQLite at `sqlite_path`.
  std::string database_url;
  std::string sqlite_path = "./data/failcat.db";
  /// Upper bound on any one statement (PostgreSQL `statement_timeout`, SQLite busy timeout).
  int statement_timeout_ms = 5000;
  /// Name reported to PostgreSQL as `application_name`.
  std::string application_name = "failcat";
  /// How long a PostgreSQL migration waits for another process's migration (the advisory
  /// lock that serialises them) before it answers `unavailable`: `failcat migrate` then exits
  /// 1 saying so, and a server starts degraded and its storage actors try again later.
  int migration_lock_wait_ms = 30000;
};

/// Opens a store (one connection). The connection is established lazily and re-established
/// after it breaks, so this fails only on options that can never work.
Result<std::unique_ptr<FailureStore>> open_store(const StoreOptions& options);

std::unique_ptr<FailureStore> make_sqlite_store(const StoreOptions& options);
std::unique_ptr<FailureStore> make_postgres_store(const StoreOptions& options);

/// True for `postgres://` and `postgresql://` URLs (and libpq key=value strings).
bool is_postgres_url(const std::string& url);

/// The URL with any password replaced by `***`, safe for logs and errors.
std::string redact_database_url(const std::string& url);

/// The libpq connection string failcat connects with: `url` (URI or key=value, as libpq parses
/// it) with libpq's network timeouts added where neither it nor the environment sets them — a
/// server that stops answering (a partition) is noticed within about a minute, not after the
/// kernel's two hours of TCP keepalive. `url` unchanged when libpq cannot parse it (connecting
/// then reports why) or when it names a service file, which may set them itself.
std::string with_network_timeouts(const std::string& url);

}  // namespace failcat
