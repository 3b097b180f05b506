#pragma once

#include "config/config.hpp"
#include "storage/store_factory.hpp"

namespace failcat {

/// The part of the config the store needs.
inline StoreOptions store_options(const Config& config) {
  StoreOptions options;
  options.database_url = config.database_url;
  options.sqlite_path = config.sqlite_path;
  options.statement_timeout_ms = config.db_statement_timeout_ms;
  return options;
}

}  // namespace failcat
