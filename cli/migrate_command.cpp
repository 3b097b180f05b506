#include <iostream>

#include "cli/commands.hpp"
#include "cli/store_options.hpp"
#include "config/config.hpp"

namespace failcat {

/// Says on stderr what in the database's schema this failcat did not write: migrations a newer
/// failcat applied, and migrations applied with another text than this one's (edited after
/// they shipped). True when there is any.
bool schema_problems(FailureStore& store) {
  auto status = store.migration_status();
  if (!status) {
    std::cerr << "failcat: " << status.error().message << "\n";
    return true;
  }
  bool any = false;
  for (const auto& m : *status) {
    if (m.unknown) {
      std::cerr << "failcat: migration " << m.version << " (" << m.name
                << ") is applied but unknown to this failcat: a newer version migrated this "
                   "database\n";
      any = true;
    } else if (m.checksum_differs) {
      std::cerr << "failcat: migration " << m.version << " (" << m.name
                << ") was applied with another text than this failcat's: it was edited after "
                   "it shipped\n";
      any = true;
    }
  }
  return any;
}

int migrate_command(const std::vector<std::string>& args) {
  bool status_only = false;
  std::vector<std::string> rest;
  for (const auto& a : args) {
    if (a == "--status") {
      status_only = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: failcat migrate [--status] [--database-url URL] [--sqlite-path PATH]\n"
                   "Applies pending schema migrations (or lists them with --status) on the\n"
                   "database that `failcat serve` would use.\n";
      return kExitOk;
    } else {
      rest.push_back(a);
    }
  }
  auto config = parse_config(config_environment(), rest);
  if (!config) {
    std::cerr << "failcat: " << config.error().field << ": " << config.error().message << "\n";
    return kExitUsage;
  }
  auto store = open_store(store_options(*config));
  if (!store) {
    std::cerr << "failcat: " << store.error().field << ": " << store.error().message << "\n";
    return kExitUsage;
  }
  const std::string where = config->database_url.empty()
                                ? "sqlite " + config->sqlite_path
                                : "postgres " + redact_database_url(config->database_url);
  if (status_only) {
    auto status = (*store)->migration_status();
    if (!status) {
      std::cerr << "failcat: " << status.error().message << "\n";
      return kExitFailure;
    }
    std::cout << "migrations on " << where << ":\n";
    int pending = 0;
    for (const auto& m : *status) {
      std::cout << "  "
                << (m.unknown   ? "unknown "
                    : m.applied ? "applied "
                                : "pending ")
                << m.version << " " << m.name
                << (m.applied_at ? "  (" + format_rfc3339(*m.applied_at) + ")" : "")
                << (m.checksum_differs ? "  [applied text differs from this failcat's]" : "")
                << "\n";
      if (!m.applied) ++pending;
    }
    std::cout << pending << " pending\n";
    return schema_problems(**store) ? kExitFailure : kExitOk;
  }
  auto applied = (*store)->migrate();
  if (!applied) {
    std::cerr << "failcat: migration failed: " << applied.error().message << "\n";
    return kExitFailure;
  }
  if (applied->empty()) {
    std::cout << "schema up to date on " << where << "\n";
  } else {
    for (int v : *applied) std::cout << "applied migration " << v << " on " << where << "\n";
  }
  return schema_problems(**store) ? kExitFailure : kExitOk;
}

}  // namespace failcat
