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

}  // namespace failcat
