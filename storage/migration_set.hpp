#pragma once

#include <string>
#include <vector>

namespace failcat {

/// One versioned schema change, compiled into the binary from storage/migrations/<backend>/.
struct Migration {
  int version;
  const char* name;
  const char* sql;
};

/// Migrations in version order.
const std::vector<Migration>& sqlite_migrations();
const std::vector<Migration>& postgres_migrations();

/// A short digest of a migration's text, recorded when applied so edits are visible.
std::string migration_checksum(const Migration& migration);

}  // namespace failcat
