#pragma once

#include <string>
#include <vector>

namespace failcat {

/// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;  ///< Bad flags or configuration.

/// `failcat serve`: the server (see `failcat serve --help`).
int serve_command(const std::vector<std::string>& args);
/// `failcat migrate [--status]`: applies pending migrations, or lists them.
int migrate_command(const std::vector<std::string>& args);
/// `failcat catalog check FILE`: validates a catalog file.
int catalog_command(const std::vector<std::string>& args);
/// `failcat backfill FILE.jsonl`: imports historical failures, re-matched and idempotent.
int backfill_command(const std::vector<std::string>& args);
/// `failcat keys add|list|remove`: manages the API keys file (SHA-256 digests only).
int keys_command(const std::vector<std::string>& args);

}  // namespace failcat
