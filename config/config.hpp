#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace failcat {

enum class Durability { wal, memory };
enum class LogFormat { text, json };

/// Every setting of `failcat serve`, parsed and validated once at start. Each field comes from
/// an environment variable (SPEC §8) and may be overridden by the matching `serve` flag.
struct Config {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string database_url;       ///< Empty: SQLite at `sqlite_path`.
  std::string database_url_file;  ///< When set, `database_url` is read from it.
  std::string sqlite_path = "./data/failcat.db";
  int db_pool_size = 4;
  int db_statement_timeout_ms = 5000;
  std::string catalog_path = "config/failure_catalog.json";
  Durability durability = Durability::wal;
  std::string wal_dir = "./data/wal";
  std::int64_t wal_max_bytes = 1LL << 30;
  int breaker_threshold = 5;
  int breaker_reset_seconds = 60;
  double persist_timeout_seconds = 2.0;
  int max_inflight = 10'000;
  int aggregate_interval_seconds = 60;
  int retention_days = 30;
  std::string export_dir = "./data/exports";
  std::string webhook_url;
  std::string webhook_secret;
  std::string webhook_secret_file;  ///< When set, `webhook_secret` is read from it (SIGHUP too).
  double alert_miss_rate = 0.3;     ///< Miss share over the last hour that raises the alert.
  int alert_min_failures = 20;      ///< ... once at least this many failures were seen.
  int alert_cooldown_seconds = 900;
  std::string api_keys_file;
  bool allow_insecure = false;
  /// Host names (lower case) a server without keys answers API requests for, beside loopback
  /// names and addresses; "*" alone: any name.
  std::vector<std::string> allowed_hosts;
  int shutdown_grace_seconds = 10;
  int http_threads = 2;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::text;
};

/// One configurable setting: its variable, flag, default and meaning (for `--help`).
struct ConfigOption {
  const char* env;
  const char* flag;
  const char* default_text;
  const char* help;
};

/// All options in `--help` order.
const std::vector<ConfigOption>& config_options();

/// The `failcat serve --help` text.
std::string config_help();

/// Builds the config from `env` (variable → value) and `args` (`--flag value` or
/// `--flag=value`), flags winning. Validates every value; the error names the variable
/// (`Error::field`) and says what is wrong. Reads `DATABASE_URL_FILE` when set.
Result<Config> parse_config(const std::map<std::string, std::string>& env,
                            const std::vector<std::string>& args);

/// The process environment as a map (only variables this config knows).
std::map<std::string, std::string> config_environment();

/// Reads a secret file (first line, surrounding whitespace trimmed).
Result<std::string> read_secret_file(const std::string& path, const std::string& variable);

}  // namespace failcat
