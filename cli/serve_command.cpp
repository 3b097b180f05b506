#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "actors/failure_service.hpp"
#include "actors/pipeline_options.hpp"
#include "api/api_context.hpp"
#include "api/api_keys.hpp"
#include "api/http_server.hpp"
#include "api/open_gate.hpp"
#include "api/router.hpp"
#include "cli/commands.hpp"
#include "cli/store_options.hpp"
#include "config/config.hpp"
#include "config/logging.hpp"
#include "core/catalog.hpp"
#include "metrics/metrics.hpp"
#include "storage/failure_store.hpp"

namespace failcat {
namespace {

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

/// Applies migrations before serving. A PostgreSQL that is down is not fatal (ingest goes to
/// the WAL and storage actors migrate once it is back); a migration that fails on a reachable
/// database is. An SQLite file is local: one that cannot be opened or migrated now (not a
/// database, a directory, no permission) never will be, so it is a configuration error.
enum class StartMigration { ok, failed, unusable_sqlite, stopped };

/// True once SIGTERM or SIGINT waits for the main thread (they are blocked until it serves).
bool stop_requested() {
  sigset_t pending;
  sigemptyset(&pending);
  return sigpending(&pending) == 0 &&
         (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

StartMigration migrate_at_start(const Config& config) {
  const bool sqlite = config.database_url.empty();
  auto store = open_store(store_options(config));
  if (!store) return StartMigration::failed;
  auto applied = (*store)->migrate();
  // Another process holding the SQLite file's write lock (`failcat migrate`, a backfill) is
  // not a bad file: wait for it, up to a minute (each attempt itself waits SQLite's busy
  // timeout).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  for (bool first = true; sqlite && !applied && std::chrono::steady_clock::now() < give_up &&
                          applied.error().message.find("database is locked") != std::string::npos;
       first = false) {
    if (first) {
      log_event(LogLevel::warn, "the SQLite file is locked by another process; waiting",
                {{"path", config.sqlite_path}});
    }
    // Nothing is served or acknowledged yet: a stop asked for meanwhile ends the wait.
    if (stop_requested()) return StartMigration::stopped;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    applied = (*store)->migrate();
  }
  if (applied) {
    for (int v : *applied) {
      log_event(LogLevel::info, "applied migration", {{"version", std::to_string(v)}});
    }
    // Served all the same (a newer failcat's additive migrations, a rollback in progress),
    // but said: `failcat migrate --status` shows the detail.
    if (auto status = (*store)->migration_status(); status) {
      for (const auto& m : *status) {
        if (m.unknown || m.checksum_differs) {
          log_event(LogLevel::warn,
                    m.unknown ? "schema has a migration this failcat does not know"
                              : "schema migration was applied with another text than this one's",
                    {{"version", std::to_string(m.version)}, {"name", m.name}});
        }
      }
    }
    return StartMigration::ok;
  }
  if (sqlite) {
    std::cerr << "failcat: FAILCAT_SQLITE_PATH: " << config.sqlite_path
              << " cannot be used: " << applied.error().message << "\n";
    return StartMigration::unusable_sqlite;
  }
  if (applied.error().kind == ErrorKind::unavailable) {
    log_event(LogLevel::warn, "database unavailable at start; serving degraded",
              {{"error", applied.error().message}});
    return StartMigration::ok;
  }
  std::cerr << "failcat: migrations failed: " << applied.error().message << "\n";
  return StartMigration::failed;
}

/// Creates `dir` when missing and checks that files can be made in it.
std::optional<std::string> unusable_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create " + dir + ": " + ec.message();
  if (!std::filesystem::is_directory(dir, ec)) return dir + " is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return "cannot write in " + dir + ": " + std::strerror(errno);
  }
  return std::nullopt;
}

/// The local directories the server writes to, checked before anything starts: a path it
/// can never use is a configuration error (exit 2), not a server that stays unready.
bool local_paths_usable(const Config& config) {
  std::vector<std::pair<const char*, std::string>> dirs;
  if (config.durability == Durability::wal) dirs.emplace_back("FAILCAT_WAL_DIR", config.wal_dir);
  if (!config.export_dir.empty()) dirs.emplace_back("FAILCAT_EXPORT_DIR", config.export_dir);
  if (config.database_url.empty() && config.sqlite_path.rfind("file:", 0) != 0) {
    const auto parent = std::filesystem::path(config.sqlite_path).parent_path();
    dirs.emplace_back("FAILCAT_SQLITE_PATH", parent.empty() ? "." : parent.string());
  }
  for (const auto& [variable, dir] : dirs) {
    if (auto problem = unusable_dir(dir)) {
      std::cerr << "failcat: " << variable << ": " << *problem << "\n";
      return false;
    }
  }
  return true;
}

/// Loads the keys file at start; a bad file stops start-up naming the entry.
Result<std::shared_ptr<ApiKeySet>> load_keys_at_start(const std::string& path) {
  auto keys = load_api_keys_file(path);
  if (!keys) return std::move(keys).error();
  log_event(LogLevel::info, "API keys loaded",
            {{"path", path}, {"keys", std::to_string(keys->size())}});
  return std::make_shared<ApiKeySet>(std::move(*keys));
}

/// SIGHUP: re-reads the catalog, the keys file, DATABASE_URL_FILE and
/// FAILCAT_WEBHOOK_SECRET_FILE. Each keeps its previous value when the new one is invalid.
/// Logs what changed, never a secret.
void reload_on_sighup(const Config& config, CatalogHolder& catalog, Metrics& metrics,
                      ApiKeySet* keys, FailureService& service, std::string& database_url,
                      std::string& webhook_secret) {
  reload_catalog(catalog, metrics, config.catalog_path);
  if (keys != nullptr) {
    auto loaded = load_api_keys_file(config.api_keys_file);
    if (loaded) {
      const auto count = loaded->size();
      keys->replace(std::move(*loaded));
      log_event(LogLevel::info, "API keys reloaded",
                {{"path", config.api_keys_file}, {"keys", std::to_string(count)}});
    } else {
      log_event(LogLevel::error, "API keys reload rejected; the previous keys stay",
                {{"error", loaded.error().message}});
    }
  }
  if (!config.database_url_file.empty()) {
    auto url = read_secret_file(config.database_url_file, "DATABASE_URL_FILE");
    if (!url || !is_postgres_url(*url)) {
      log_event(LogLevel::error, "database URL reload rejected; the previous credentials stay",
                {{"path", config.database_url_file},
                 {"error", url ? "not a postgresql:// URL" : url.error().message}});
    } else if (*url == database_url) {
      log_event(LogLevel::info, "database URL unchanged", {{"path", config.database_url_file}});
    } else {
      database_url = *url;
      Config next = config;
      next.database_url = database_url;
      service.update_store_options(store_options(next));
      log_event(LogLevel::info, "database credentials reloaded; reconnecting",
                {{"database", redact_database_url(database_url)}});
    }
  }
  if (!config.webhook_secret_file.empty()) {
    auto secret = read_secret_file(config.webhook_secret_file, "FAILCAT_WEBHOOK_SECRET_FILE");
    if (!secret) {
      log_event(LogLevel::error, "webhook secret reload rejected; the previous key stays",
                {{"path", config.webhook_secret_file}, {"error", secret.error().message}});
    } else if (*secret == webhook_secret) {
      log_event(LogLevel::info, "webhook secret unchanged", {{"path", config.webhook_secret_file}});
    } else {
      webhook_secret = *secret;
      service.update_webhook_secret(*secret);
      log_event(LogLevel::info, "webhook secret reloaded", {{"path", config.webhook_secret_file}});
    }
  }
}

}  // namespace

int serve_command(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << config_help();
      return kExitOk;
    }
  }
  auto config = parse_config(config_environment(), args);
  if (!config) {
    std::cerr << "failcat: " << config.error().field << ": " << config.error().message << "\n";
    return kExitUsage;
  }
  if (config->api_keys_file.empty() && !is_loopback(config->host) && !config->allow_insecure) {
    std::cerr << "failcat: FAILCAT_HOST: refusing to serve " << config->host
              << " without FAILCAT_API_KEYS_FILE (set FAILCAT_ALLOW_INSECURE=1 to override)\n";
    return kExitUsage;
  }
  setup_logging(config->log_level, config->log_format);

  auto loaded = load_catalog_file(config->catalog_path);
  if (!loaded.ok()) {
    std::cerr << "failcat: FAILCAT_CATALOG: " << config->catalog_path
              << " is invalid: " << describe(loaded.problems.front()) << "\n";
    return kExitUsage;
  }
  // The log, the SQLite file and the exports hold every tenant's error messages: what the
  // server creates is its own user's alone (directories 0700, files 0600).
  ::umask(0077);
  if (!local_paths_usable(*config)) return kExitUsage;

  // Signals go to the waiting main thread only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  switch (migrate_at_start(*config)) {
    case StartMigration::ok:
      break;
    case StartMigration::unusable_sqlite:
      return kExitUsage;
    case StartMigration::failed:
      return kExitFailure;
    case StartMigration::stopped:
      log_event(LogLevel::info, "stopped before serving");
      flush_logs();
      return kExitOk;
  }

  std::shared_ptr<ApiKeySet> keys;
  if (!config->api_keys_file.empty()) {
    auto loaded_keys = load_keys_at_start(config->api_keys_file);
    if (!loaded_keys) {
      std::cerr << "failcat: " << loaded_keys.error().field << ": " << loaded_keys.error().message
                << "\n";
      return kExitUsage;
    }
    keys = std::move(*loaded_keys);
  } else {
    log_event(LogLevel::warn, "no FAILCAT_API_KEYS_FILE: serving without authentication",
              {{"address", config->host}});
  }

  SystemClock clock;
  CatalogHolder catalog(loaded.catalog);
  Metrics metrics(
      MetricsOptions{FAILCAT_VERSION,
                     {},
                     {"storage", "breaker", "persister", "matcher", "gateway", "aggregator"}});
  metrics.set_catalog_entries(loaded.catalog->summary().entries);

  FailureService service(pipeline_options(*config), metrics, catalog, clock);
  if (auto started = service.start(); !started) {
    std::cerr << "failcat: " << started.error().message << "\n";
    return kExitFailure;
  }

  ApiContext api{service, metrics, catalog, clock, config->catalog_path};
  Router router;
  add_all_routes(router, api);
  metrics.declare_routes(router.templates());

  HttpServerOptions http;
  http.host = config->host;
  http.port = config->port;
  http.threads = config->http_threads;
  http.large_body_routes = {"/api/v1/failures/batch"};
  // Without keys, the API still refuses what a web page could send on the operator's behalf.
  HttpServer server(http, router, metrics,
                    keys ? make_api_key_gate(keys)
                         : make_open_gate({config->allowed_hosts, is_loopback(config->host)}));
  if (auto started = server.start(); !started) {
    std::cerr << "failcat: FAILCAT_HOST, FAILCAT_PORT: " << started.error().message << "\n";
    service.stop(clock.steady());
    return kExitFailure;
  }
  log_event(LogLevel::info, "failcat serving",
            {{"address", config->host + ":" + std::to_string(server.port())},
             {"store", config->database_url.empty() ? "sqlite" : "postgres"},
             {"durability", config->durability == Durability::wal ? "wal" : "memory"},
             {"catalog", loaded.catalog->version()},
             {"auth", keys ? "api-keys" : "open"}});

  std::string database_url = config->database_url;
  std::string webhook_secret = config->webhook_secret;
  int received = 0;
  while (sigwait(&signals, &received) == 0) {
    if (received == SIGHUP) {
      reload_on_sighup(*config, catalog, metrics, keys.get(), service, database_url,
                       webhook_secret);
      continue;
    }
    break;
  }

  // Graceful shutdown: refuse new work, let in-flight requests finish, flush the queue to the
  // database (what does not make it stays in the WAL for the next start), then stop.
  const auto grace = std::chrono::seconds(config->shutdown_grace_seconds);
  const Micros started_at = clock.steady();
  const Micros deadline = started_at + config->shutdown_grace_seconds * kMicrosPerSecond;
  service.begin_shutdown();
  server.begin_drain();
  log_event(LogLevel::info, "shutting down", {{"signal", std::to_string(received)}});
  // A second SIGTERM or SIGINT (an impatient operator) stops at once: everything acknowledged
  // is in the WAL already (in memory mode, what is unpersisted is lost, as at the grace's end).
  std::thread impatient([signals] {
    int again = 0;
    sigset_t stop = signals;
    sigdelset(&stop, SIGHUP);
    if (sigwait(&stop, &again) == 0) {
      log_event(LogLevel::warn, "second signal; exiting now with work left in the WAL",
                {{"signal", std::to_string(again)}});
      flush_logs();
      _exit(kExitOk);
    }
  });
  impatient.detach();

  std::mutex mutex;
  std::condition_variable cv;
  bool finished = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mutex);
    if (!cv.wait_for(lock, grace, [&] { return finished; })) {
      // Everything acknowledged is in the WAL already; leaving now loses nothing.
      log_event(LogLevel::warn, "grace period over; exiting with work left in the WAL");
      flush_logs();
      _exit(kExitOk);
    }
  });

  while (service.status().inflight.load() > 0 &&
         clock.steady() < started_at + (deadline - started_at) / 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto left = service.stop(deadline - 300'000);
  server.shutdown();
  log_event(LogLevel::info, "stopped", {{"unpersisted_rows", std::to_string(left)}});
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  return kExitOk;
}

}  // namespace failcat
