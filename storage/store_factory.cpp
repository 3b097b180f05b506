#include "storage/store_factory.hpp"

namespace failcat {

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0 ||
         url.find("host=") != std::string::npos || url.find("dbname=") != std::string::npos;
}

std::string redact_database_url(const std::string& url) {
  std::string out = url;
  // URL form: scheme://user:password@host
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto at = out.find('@', scheme + 3);
    const auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // Query or key=value form: password=...
  for (const char* key : {"password=", "PASSWORD="}) {
    auto pos = out.find(key);
    while (pos != std::string::npos) {
      const auto start = pos + std::char_traits<char>::length(key);
      auto end = out.find_first_of(" &", start);
      if (end == std::string::npos) end = out.size();
      out.replace(start, end - start, "***");
      pos = out.find(key, start + 3);
    }
  }
  return out;
}

Result<std::unique_ptr<FailureStore>> open_store(const StoreOptions& options) {
  if (options.database_url.empty()) {
    if (options.sqlite_path.empty()) return Error::invalid("FAILCAT_SQLITE_PATH", "is empty");
    return make_sqlite_store(options);
  }
  if (!is_postgres_url(options.database_url)) {
    return Error::invalid("DATABASE_URL", "must start with postgresql:// or postgres://");
  }
  return make_postgres_store(options);
}

}  // namespace failcat
