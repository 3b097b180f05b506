#pragma once

#include <memory>
#include <string>

#include "storage/failure_store.hpp"

namespace failcat::testing {

/// A throwaway database for one test: a temp SQLite file, or a fresh schema on the PostgreSQL
/// server named by FAILCAT_TEST_DATABASE_URL. Removed when destroyed.
class StoreTestBackend {
 public:
  virtual ~StoreTestBackend() = default;
  virtual std::unique_ptr<FailureStore> open() = 0;
  /// Runs SQL directly, bypassing the store (to set up states the API cannot make).
  virtual void exec_raw(const std::string& sql) = 0;
  /// Runs a query returning one integer.
  virtual long long query_int(const std::string& sql) = 0;
};

/// nullptr (and a skip message) when the backend cannot run here; fails the test instead of
/// skipping when FAILCAT_REQUIRE_POSTGRES=1 and PostgreSQL is unavailable.
std::unique_ptr<StoreTestBackend> make_test_backend(const std::string& name, std::string& why);

}  // namespace failcat::testing
