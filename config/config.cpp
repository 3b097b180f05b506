#include "config/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

#include "core/ascii.hpp"

extern char** environ;  // NOLINT: POSIX

namespace failcat {
namespace {

using Setter = std::function<std::optional<std::string>(Config&, const std::string&)>;

/// A number as written in a setting: an optional '-', then decimal digits, a point and an
/// exponent (no blanks, no '+' in front, no hexadecimal, no inf or nan).
bool starts_like_a_number(const std::string& text) {
  const std::size_t i = !text.empty() && text[0] == '-' ? 1 : 0;
  if (i >= text.size() || !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) return false;
  return text.find_first_not_of("0123456789.eE+-") == std::string::npos;
}

std::optional<std::int64_t> parse_int(const std::string& text) {
  if (!starts_like_a_number(text)) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(const std::string& text) {
  if (!starts_like_a_number(text)) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || v != v) return std::nullopt;
  return v;
}

Setter int_in(int Config::*field, std::int64_t lo, std::int64_t hi) {
  return [=](Config& c, const std::string& v) -> std::optional<std::string> {
    const auto n = parse_int(v);
    if (!n || *n < lo || *n > hi) {
      return "'" + v + "' is not an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    }
    c.*field = static_cast<int>(*n);
    return std::nullopt;
  };
}

/// An address literal, or a name made of letters, digits, '-', '_' and '.' (resolved when the
/// server binds; container host names often hold '_'). All digits and dots must be an IPv4
/// address.
bool valid_listen_host(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  unsigned char buffer[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), buffer) == 1) return true;
  if (inet_pton(AF_INET6, host.c_str(), buffer) == 1) return true;
  bool only_digits_and_dots = true;
  for (const char ch : host) {
    const bool alnum =
        (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && ch != '-' && ch != '_' && ch != '.') return false;
    if (ch != '.' && !(ch >= '0' && ch <= '9')) only_digits_and_dots = false;
  }
  return !only_digits_and_dots && host.front() != '-' && host.front() != '.';
}

Setter text(std::string Config::*field, bool allow_empty = true) {
  return [=](Config& c, const std::string& v) -> std::optional<std::string> {
    if (!allow_empty && v.empty()) return std::string("must not be empty");
    c.*field = v;
    return std::nullopt;
  };
}

std::optional<std::string> parse_bool(const std::string& v, bool& out) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") {
    out = true;
  } else if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) {
    out = false;
  } else {
    return "'" + v + "' is not a boolean (1/0, true/false)";
  }
  return std::nullopt;
}

constexpr const char* kDefaultCatalog = "config/failure_catalog.json";

/// `relative` resolved against the parent of the running executable's directory.
std::string beside_executable(const std::string& relative) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return relative;
  return (exe.parent_path().parent_path() / relative).string();
}

struct OptionDef {
  ConfigOption option;
  Setter set;
};

const std::vector<OptionDef>& option_defs() {
  static const std::vector<OptionDef> kDefs = {
      {{"FAILCAT_HOST", "--host", "127.0.0.1", "Address to listen on."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (!valid_listen_host(v)) {
           return "'" + v + "' is not an IPv4 or IPv6 address or a host name";
         }
         c.host = v;
         return std::nullopt;
       }},
      {{"FAILCAT_PORT", "--port", "8080", "TCP port to listen on (0 picks a free one)."},
       int_in(&Config::port, 0, 65535)},
      {{"DATABASE_URL", "--database-url", "",
        "PostgreSQL URL (postgresql://…); unset selects SQLite at FAILCAT_SQLITE_PATH."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (!v.empty() && v.rfind("postgresql://", 0) != 0 && v.rfind("postgres://", 0) != 0) {
           return std::string("must start with postgresql:// or postgres://");
         }
         c.database_url = v;
         return std::nullopt;
       }},
      {{"DATABASE_URL_FILE", "--database-url-file", "",
        "File holding DATABASE_URL (read at start and on SIGHUP)."},
       text(&Config::database_url_file)},
      {{"FAILCAT_SQLITE_PATH", "--sqlite-path", "./data/failcat.db",
        "SQLite database file (the embedded default store)."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty()) return std::string("must not be empty");
         // Each storage connection would open a database of its own, lost at exit.
         if (v == ":memory:" || v.find("mode=memory") != std::string::npos) {
           return std::string(
               "must name a file: an in-memory database is not shared between "
               "connections and is lost at exit");
         }
         c.sqlite_path = v;
         return std::nullopt;
       }},
      {{"FAILCAT_DB_POOL_SIZE", "--db-pool-size", "4",
        "Storage actors, each owning one database connection."},
       int_in(&Config::db_pool_size, 1, 64)},
      {{"FAILCAT_DB_STATEMENT_TIMEOUT_MS", "--db-statement-timeout-ms", "5000",
        "Upper bound on one database statement."},
       int_in(&Config::db_statement_timeout_ms, 100, 600'000)},
      {{"FAILCAT_CATALOG", "--catalog", "config/failure_catalog.json",
        "Failure catalog JSON file."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty()) return std::string("must not be empty");
         std::string path = v;
         // The default is relative to the working directory; a binary started elsewhere
         // finds the catalog beside its build tree (build/failcat -> config/).
         if (!std::ifstream(path) && path == kDefaultCatalog) path = beside_executable(path);
         if (!std::ifstream(path)) return "cannot read '" + v + "'";
         c.catalog_path = path;
         return std::nullopt;
       }},
      {{"FAILCAT_DURABILITY", "--durability", "wal",
        "wal: acknowledge once in the local write-ahead log; memory: from RAM (may lose)."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v == "wal") {
           c.durability = Durability::wal;
         } else if (v == "memory") {
           c.durability = Durability::memory;
         } else {
           return "'" + v + "' is not one of wal, memory";
         }
         return std::nullopt;
       }},
      {{"FAILCAT_WAL_DIR", "--wal-dir", "./data/wal", "Write-ahead log directory."},
       text(&Config::wal_dir, false)},
      {{"FAILCAT_WAL_MAX_BYTES", "--wal-max-bytes", "1073741824",
        "Cap on unpersisted WAL bytes; beyond it ingest answers 503."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         const auto n = parse_int(v);
         if (!n || *n < (1 << 20)) return "'" + v + "' is not an integer >= 1048576";
         c.wal_max_bytes = *n;
         return std::nullopt;
       }},
      {{"FAILCAT_BREAKER_THRESHOLD", "--breaker-threshold", "5",
        "Consecutive failed persists that open the circuit breaker."},
       int_in(&Config::breaker_threshold, 1, 1000)},
      {{"FAILCAT_BREAKER_RESET_SECONDS", "--breaker-reset-seconds", "60",
        "Seconds the breaker stays open before one probe."},
       int_in(&Config::breaker_reset_seconds, 1, 86'400)},
      {{"FAILCAT_PERSIST_TIMEOUT_SECONDS", "--persist-timeout-seconds", "2",
        "Seconds before a persist counts as failed."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         const auto d = parse_double(v);
         if (!d || *d < 0.01 || *d > 600) return "'" + v + "' is not a number in 0.01..600";
         c.persist_timeout_seconds = *d;
         return std::nullopt;
       }},
      {{"FAILCAT_MAX_INFLIGHT", "--max-inflight", "10000",
        "Ingest and match requests in flight at most; beyond it they answer 503."},
       int_in(&Config::max_inflight, 1, 10'000'000)},
      {{"FAILCAT_AGGREGATE_INTERVAL_SECONDS", "--aggregate-interval-seconds", "60",
        "How often hourly rollups, exports and alerts run."},
       int_in(&Config::aggregate_interval_seconds, 1, 86'400)},
      {{"FAILCAT_RETENTION_DAYS", "--retention-days", "30",
        "Failures older than this are deleted (0 keeps everything)."},
       int_in(&Config::retention_days, 0, 36'500)},
      {{"FAILCAT_EXPORT_DIR", "--export-dir", "./data/exports",
        "Directory for NDJSON aggregate snapshots."},
       text(&Config::export_dir)},
      {{"FAILCAT_WEBHOOK_URL", "--webhook-url", "",
        "Slack-compatible webhook for miss-rate alerts."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           return std::string("must start with http:// or https://");
         }
         c.webhook_url = v;
         return std::nullopt;
       }},
      {{"FAILCAT_WEBHOOK_SECRET", "--webhook-secret", "",
        "HMAC-SHA256 key signing webhook bodies."},
       text(&Config::webhook_secret)},
      {{"FAILCAT_WEBHOOK_SECRET_FILE", "--webhook-secret-file", "",
        "File holding the webhook key instead (first line); re-read on SIGHUP."},
       text(&Config::webhook_secret_file)},
      {{"FAILCAT_ALERT_MISS_RATE", "--alert-miss-rate", "0.3",
        "Share of unmatched failures over the last hour that sends the webhook alert."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         const auto d = parse_double(v);
         if (!d || *d <= 0 || *d > 1) return "'" + v + "' is not a number in (0, 1]";
         c.alert_miss_rate = *d;
         return std::nullopt;
       }},
      {{"FAILCAT_ALERT_MIN_FAILURES", "--alert-min-failures", "20",
        "Failures the last hour must hold before the miss-rate alert can fire."},
       int_in(&Config::alert_min_failures, 1, 1'000'000'000)},
      {{"FAILCAT_ALERT_COOLDOWN_SECONDS", "--alert-cooldown-seconds", "900",
        "Seconds between two miss-rate alerts."},
       int_in(&Config::alert_cooldown_seconds, 0, 7 * 86'400)},
      {{"FAILCAT_API_KEYS_FILE", "--api-keys-file", "",
        "API keys file (SHA-256 hashes); unset runs open on loopback only."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (!v.empty() && !std::ifstream(v)) return "cannot read '" + v + "'";
         c.api_keys_file = v;
         return std::nullopt;
       }},
      {{"FAILCAT_ALLOW_INSECURE", "--allow-insecure", "0",
        "1 allows a non-loopback bind without an API keys file."},
       [](Config& c, const std::string& v) { return parse_bool(v, c.allow_insecure); }},
      {{"FAILCAT_ALLOWED_HOSTS", "--allowed-hosts", "",
        "Without API keys: Host names (comma-separated; * for any) answered beside loopback "
        "names and addresses, e.g. a reverse proxy's."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         c.allowed_hosts.clear();
         std::size_t start = 0;
         while (start <= v.size() && !v.empty()) {
           const auto comma = v.find(',', start);
           std::string name =
               v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
           while (!name.empty() && name.front() == ' ') name.erase(name.begin());
           while (!name.empty() && name.back() == ' ') name.pop_back();
           name = ascii_lower(name);
           if (name.empty() || name.find_first_of(" /:@[]") != std::string::npos) {
             return "'" + v + "' is not a comma-separated list of host names (or *)";
           }
           c.allowed_hosts.push_back(name);
           if (comma == std::string::npos) break;
           start = comma + 1;
         }
         if (c.allowed_hosts.size() > 1 && std::find(c.allowed_hosts.begin(), c.allowed_hosts.end(),
                                                     "*") != c.allowed_hosts.end()) {
           return std::string("* stands alone");
         }
         return std::nullopt;
       }},
      {{"FAILCAT_SHUTDOWN_GRACE_SECONDS", "--shutdown-grace-seconds", "10",
        "Seconds SIGTERM waits to flush queued work before exiting."},
       int_in(&Config::shutdown_grace_seconds, 1, 3600)},
      {{"FAILCAT_HTTP_THREADS", "--http-threads", "2", "HTTP worker threads."},
       int_in(&Config::http_threads, 1, 64)},
      {{"FAILCAT_LOG_LEVEL", "--log-level", "info",
        "trace, debug, info, warn, error, critical or off."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
           if (v == level) {
             c.log_level = v;
             return std::nullopt;
           }
         }
         return "'" + v + "' is not one of trace, debug, info, warn, error, critical, off";
       }},
      {{"FAILCAT_LOG_FORMAT", "--log-format", "text", "text or json (one JSON object a line)."},
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v == "text") {
           c.log_format = LogFormat::text;
         } else if (v == "json") {
           c.log_format = LogFormat::json;
         } else {
           return "'" + v + "' is not one of text, json";
         }
         return std::nullopt;
       }},
  };
  return kDefs;
}

}  // namespace

const std::vector<ConfigOption>& config_options() {
  static const std::vector<ConfigOption> kOptions = [] {
    std::vector<ConfigOption> out;
    for (const auto& d : option_defs()) out.push_back(d.option);
    return out;
  }();
  return kOptions;
}

std::string config_help() {
  std::ostringstream out;
  out << "Usage: failcat serve [--flag value]...\n\n"
         "Runs the failcat server. Every setting is an environment variable, and the flag\n"
         "beside it overrides the variable.\n\n";
  for (const auto& o : config_options()) {
    out << "  " << o.flag << " <value>\n      " << o.env
        << " (default: " << (*o.default_text ? o.default_text : "unset") << ")\n      " << o.help
        << "\n";
  }
  out << "  --help\n      Prints this text.\n";
  return out.str();
}

Result<std::string> read_secret_file(const std::string& path, const std::string& variable) {
  std::ifstream in(path);
  if (!in) return Error::invalid(variable, "cannot read '" + path + "'");
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r\n");
  const auto last = line.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return Error::invalid(variable, "'" + path + "' is empty");
  return line.substr(first, last - first + 1);
}

Result<Config> parse_config(const std::map<std::string, std::string>& env,
                            const std::vector<std::string>& args) {
  Config config;
  std::map<std::string, std::string> values = env;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    const auto eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    const OptionDef* def = nullptr;
    for (const auto& d : option_defs()) {
      if (flag == d.option.flag) def = &d;
    }
    if (def == nullptr) return Error::invalid(flag, "unknown option (see failcat serve --help)");
    if (eq == std::string::npos) {
      if (i + 1 >= args.size()) return Error::invalid(flag, "needs a value");
      value = args[++i];
    }
    values[def->option.env] = value;
  }
  for (const auto& d : option_defs()) {
    const auto it = values.find(d.option.env);
    const std::string value = it != values.end() ? it->second : d.option.default_text;
    if (auto problem = d.set(config, value)) return Error::invalid(d.option.env, *problem);
  }
  if (!config.database_url_file.empty()) {
    if (values.count("DATABASE_URL") && !values.at("DATABASE_URL").empty()) {
      return Error::invalid("DATABASE_URL_FILE", "set either DATABASE_URL or DATABASE_URL_FILE");
    }
    auto url = read_secret_file(config.database_url_file, "DATABASE_URL_FILE");
    if (!url) return std::move(url).error();
    if (url->rfind("postgresql://", 0) != 0 && url->rfind("postgres://", 0) != 0) {
      return Error::invalid("DATABASE_URL_FILE",
                            "content must start with postgresql:// or postgres://");
    }
    config.database_url = *url;
  }
  if (!config.webhook_secret_file.empty()) {
    if (!config.webhook_secret.empty()) {
      return Error::invalid("FAILCAT_WEBHOOK_SECRET_FILE",
                            "set either FAILCAT_WEBHOOK_SECRET or FAILCAT_WEBHOOK_SECRET_FILE");
    }
    auto secret = read_secret_file(config.webhook_secret_file, "FAILCAT_WEBHOOK_SECRET_FILE");
    if (!secret) return std::move(secret).error();
    config.webhook_secret = *secret;
  }
  if (!config.webhook_url.empty() && config.webhook_secret.empty()) {
    // A receiver cannot tell an unsigned alert from a forged one.
    return Error::invalid("FAILCAT_WEBHOOK_SECRET",
                          "required with FAILCAT_WEBHOOK_URL: alerts are signed (or set "
                          "FAILCAT_WEBHOOK_SECRET_FILE)");
  }
  return config;
}

std::map<std::string, std::string> config_environment() {
  std::map<std::string, std::string> out;
  for (const auto& o : config_options()) {
    if (const char* v = std::getenv(o.env)) out[o.env] = v;
  }
  return out;
}

}  // namespace failcat
