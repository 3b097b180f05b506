#include "tests/storage/store_test_backend.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <pqxx/pqxx>
#include <stdexcept>

#include "storage/store_factory.hpp"

namespace failcat::testing {
namespace {

class SqliteBackend final : public StoreTestBackend {
 public:
  SqliteBackend() {
    char tmpl[] = "/tmp/failcat-store-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = dir_ + "/failcat.db";
  }
  ~SqliteBackend() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<FailureStore> open() override {
    StoreOptions options;
    options.sqlite_path = path_;
    return make_sqlite_store(options);
  }
  void exec_raw(const std::string& sql) override {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string message = err != nullptr ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error("sqlite: " + message);
  }
  long long query_int(const std::string& sql) override {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    long long value = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

 private:
  std::string dir_;
  std::string path_;
};

class PostgresBackend final : public StoreTestBackend {
 public:
  explicit PostgresBackend(std::string base_url) : base_url_(std::move(base_url)) {
    static std::atomic<int> counter{0};
    schema_ = "fc_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    pqxx::connection c(base_url_);
    pqxx::work tx(c);
    tx.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    tx.exec("CREATE SCHEMA " + schema_);
    tx.commit();
  }
  ~PostgresBackend() override {
    try {
      pqxx::connection c(base_url_);
      pqxx::work tx(c);
      tx.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      tx.commit();
    } catch (const std::exception&) {
      // A failed cleanup leaves a uniquely named schema behind; it harms no other test.
    }
  }
  std::string url() const {
    const char sep = base_url_.find('?') == std::string::npos ? '?' : '&';
    return base_url_ + sep + "options=-csearch_path%3D" + schema_;
  }
  std::unique_ptr<FailureStore> open() override {
    StoreOptions options;
    options.database_url = url();
    return make_postgres_store(options);
  }
  void exec_raw(const std::string& sql) override {
    pqxx::connection c(url());
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }
  long long query_int(const std::string& sql) override {
    pqxx::connection c(url());
    pqxx::work tx(c);
    return tx.exec1(sql)[0].as<long long>();
  }

 private:
  std::string base_url_;
  std::string schema_;
};

}  // namespace

std::unique_ptr<StoreTestBackend> make_test_backend(const std::string& name, std::string& why) {
  if (name == "sqlite") return std::make_unique<SqliteBackend>();
  const char* url = std::getenv("FAILCAT_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    why = "FAILCAT_TEST_DATABASE_URL is not set";
    return nullptr;
  }
  try {
    return std::make_unique<PostgresBackend>(url);
  } catch (const std::exception& e) {
    why = std::string("PostgreSQL unavailable: ") + e.what();
    return nullptr;
  }
}

}  // namespace failcat::testing
