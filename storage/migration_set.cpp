#include "storage/migration_set.hpp"

#include <cstdint>
#include <cstdio>

namespace failcat {

std::string migration_checksum(const Migration& migration) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (const char* p = migration.sql; *p != '\0'; ++p) {
    h ^= static_cast<unsigned char>(*p);
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace failcat
