// Every route of the real route table × every kind of caller: no key, a bad key, each role,
// its own tenant and a foreign one. A route added without a row here fails the suite.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "actors/failure_service.hpp"
#include "actors/pipeline_options.hpp"
#include "api/api_context.hpp"
#include "api/api_keys.hpp"
#include "api/http_server.hpp"
#include "api/router.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

const std::string kTenantA = "aaaaaaaa-0000-4000-8000-00000000000a";
const std::string kTenantB = "bbbbbbbb-0000-4000-8000-00000000000b";

// Keys: the three tenant roles are bound to tenant A; the admin acts for every tenant.
const std::string kIngestKey = "fc_ingest_a";
const std::string kReaderKey = "fc_reader_a";
const std::string kOperatorKey = "fc_operator_a";
const std::string kAdminKey = "fc_admin";
const std::string kBadKey = "fc_not_a_key";

std::string source_dir() {
  const char* dir = std::getenv("FAILCAT_SOURCE_DIR");
  return dir ? dir : ".";
}

std::string failure_body(const std::optional<std::string>& tenant) {
  nlohmann::json body = {{"run_id", "matrix"},
                         {"error_code", "RATE_LIMITED"},
                         {"error_message", "429 too many requests"}};
  if (tenant) body["tenant_id"] = *tenant;
  return body.dump();
}

/// What one route expects. `{own}` in a path or body stands for tenant A's failure and
/// `{foreign}` for tenant B's (tenant B's UUID in a query or body names tenant B).
struct RouteCase {
  Access access;
  std::string path;
  std::string body;
  int ok_status;
  /// The same call aimed at tenant B; empty when the route has no tenant dimension.
  std::string foreign_path;
  std::string foreign_body;
  int foreign_status = 0;  ///< For a tenant-A key; an admin key gets `ok_status`.
};

std::map<std::string, RouteCase> route_cases() {
  const std::string own_failure = failure_body(std::nullopt);
  const std::string foreign_failure = failure_body(kTenantB);
  const std::string own_batch = "{\"failures\":[" + own_failure + "]}";
  const std::string foreign_batch = "{\"failures\":[" + own_failure + "," + foreign_failure + "]}";
  const std::string patch = R"({"recovery_succeeded":false,"notes":"matrix"})";
  const std::string bulk = R"({"recovery_succeeded":false,"run_id":"matrix"})";
  const std::string foreign_bulk =
      R"({"recovery_succeeded":false,"run_id":"matrix","tenant_id":")" + kTenantB + "\"}";
  const std::string b = "?tenant_id=" + kTenantB;
  return {
      {"GET /healthz", {Access::open, "/healthz", "", 200, "", "", 0}},
      {"GET /livez", {Access::open, "/livez", "", 200, "", "", 0}},
      {"GET /readyz", {Access::open, "/readyz", "", 200, "", "", 0}},
      {"GET /metrics", {Access::open, "/metrics", "", 200, "", "", 0}},
      {"GET /ui", {Access::open, "/ui", "", 200, "", "", 0}},
      {"GET /ui/app.js", {Access::open, "/ui/app.js", "", 200, "", "", 0}},
      {"GET /ui/app.css", {Access::open, "/ui/app.css", "", 200, "", "", 0}},
      {"POST /api/v1/failures",
       {Access::ingest, "/api/v1/failures", own_failure, 202, "/api/v1/failures", foreign_failure,
        403}},
      {"POST /api/v1/failures/batch",
       {Access::ingest, "/api/v1/failures/batch", own_batch, 202, "/api/v1/failures/batch",
        foreign_batch, 403}},
      {"POST /api/v1/match",
       {Access::ingest, "/api/v1/match", own_failure, 200, "/api/v1/match", foreign_failure, 403}},
      {"GET /api/v1/failures",
       {Access::read, "/api/v1/failures", "", 200, "/api/v1/failures" + b, "", 403}},
      {"GET /api/v1/failures/{id}",
       {Access::read, "/api/v1/failures/{own}", "", 200, "/api/v1/failures/{foreign}", "", 404}},
      {"GET /api/v1/failures/stats",
       {Access::read, "/api/v1/failures/stats", "", 200, "/api/v1/failures/stats" + b, "", 403}},
      {"GET /api/v1/failures/unrecovered",
       {Access::read, "/api/v1/failures/unrecovered", "", 200, "/api/v1/failures/unrecovered" + b,
        "", 403}},
      {"GET /api/v1/aggregates",
       {Access::read, "/api/v1/aggregates", "", 200, "/api/v1/aggregates" + b, "", 403}},
      {"PATCH /api/v1/failures/{id}/recovery",
       {Access::operate, "/api/v1/failures/{own}/recovery", patch, 200,
        "/api/v1/failures/{foreign}/recovery", patch, 404}},
      {"POST /api/v1/failures/recovery/bulk",
       {Access::operate, "/api/v1/failures/recovery/bulk", bulk, 200,
        "/api/v1/failures/recovery/bulk", foreign_bulk, 403}},
      {"GET /api/v1/catalog", {Access::read, "/api/v1/catalog", "", 200, "", "", 0}},
      {"POST /api/v1/catalog/reload",
       {Access::admin, "/api/v1/catalog/reload", "", 200, "", "", 0}},
      {"GET /api/v1/admin/breaker", {Access::read, "/api/v1/admin/breaker", "", 200, "", "", 0}},
      {"POST /api/v1/admin/breaker",
       {Access::admin, "/api/v1/admin/breaker", R"({"action":"auto"})", 200, "", "", 0}},
  };
}

std::string entry(const std::string& name, const std::string& key, const char* role,
                  const std::string& tenant) {
  return "{\"name\":\"" + name + "\",\"sha256\":\"" + digest_hex(sha256_of(key)) +
         "\",\"role\":\"" + role + "\",\"tenant_id\":\"" + tenant + "\"}";
}

class RouteAccess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = new Env(); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }

  struct Env {
    Env()
        : dir(make_dir()),
          catalog_path(source_dir() + "/config/failure_catalog.json"),
          catalog(load_catalog_file(catalog_path).catalog),
          service(options(dir), metrics, catalog, clock),
          api{service, metrics, catalog, clock, catalog_path} {
      started = service.start().ok();
      add_all_routes(router, api);
      auto keys = parse_api_keys("{\"keys\":[" + entry("ingest-a", kIngestKey, "ingest", kTenantA) +
                                 "," + entry("reader-a", kReaderKey, "reader", kTenantA) + "," +
                                 entry("operator-a", kOperatorKey, "operator", kTenantA) + "," +
                                 entry("admin", kAdminKey, "admin", "*") + "]}");
      gate = make_api_key_gate(std::make_shared<ApiKeySet>(std::move(*keys)));
    }
    ~Env() {
      service.stop(clock.steady() + 2 * kMicrosPerSecond);
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }

    static std::string make_dir() {
      char tmpl[] = "/tmp/failcat-matrix-XXXXXX";
      return mkdtemp(tmpl) ? tmpl : "/tmp";
    }
    static PipelineOptions options(const std::string& dir) {
      PipelineOptions o;
      o.durability = PipelineDurability::memory;
      o.wal_dir = dir + "/wal";
      o.store.sqlite_path = dir + "/failcat.db";
      o.storage_actors = 1;
      o.matcher_actors = 1;
      o.batch_age = 1'000;
      o.aggregate_interval = 3600 * kMicrosPerSecond;
      o.export_dir = dir + "/exports";
      return o;
    }

    std::string dir;
    std::string catalog_path;
    SystemClock clock;
    Metrics metrics;
    CatalogHolder catalog;
    FailureService service;
    ApiContext api;
    Router router;
    RequestGate gate;
    bool started = false;
  };

  /// Routes, gates and handles one request the way HttpServer does, and waits for the answer.
  static HttpResponse call(const std::string& method, const std::string& target,
                           const std::string& body, const std::optional<std::string>& key) {
    HttpRequest request;
    request.method = method;
    request.request_id = "matrix";
    request.body = body;
    const auto q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string rest = target.substr(q + 1);
      while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string pair = rest.substr(0, amp);
        const auto eq = pair.find('=');
        request.query.emplace_back(
            *percent_decode(pair.substr(0, eq)),
            eq == std::string::npos ? "" : *percent_decode(pair.substr(eq + 1)));
        rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
      }
    }
    if (key) request.headers["authorization"] = "Bearer " + *key;
    auto match = env_->router.match(method, request.path);
    if (match.kind != Router::Match::Kind::found) {
      HttpResponse none;
      none.status = match.kind == Router::Match::Kind::not_found ? 404 : 405;
      return none;
    }
    request.route = match.route;
    request.access = match.access;
    request.path_params = match.params;
    if (auto refused = env_->gate(request)) return *refused;
    auto answer = std::make_shared<std::promise<HttpResponse>>();
    auto future = answer->get_future();
    (*match.handler)(request, [answer](HttpResponse r) { answer->set_value(std::move(r)); });
    if (future.wait_for(std::chrono::seconds(15)) != std::future_status::ready) {
      HttpResponse timeout;
      timeout.status = 0;
      return timeout;
    }
    return future.get();
  }

  /// Stores one failure of `tenant` (as the admin) and waits until it can be read back.
  static std::string stored_failure(const std::string& tenant) {
    auto created = call("POST", "/api/v1/failures", failure_body(tenant), kAdminKey);
    for (int i = 0; i < 500 && created.status == 503; ++i) {  // the pipeline is starting
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      created = call("POST", "/api/v1/failures", failure_body(tenant), kAdminKey);
    }
    EXPECT_EQ(created.status, 202) << created.body;
    const std::string id = nlohmann::json::parse(created.body).at("id").get<std::string>();
    for (int i = 0; i < 500; ++i) {
      if (call("GET", "/api/v1/failures/" + id, "", kAdminKey).status == 200) return id;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "failure " << id << " was never stored";
    return id;
  }

  void SetUp() override {
    ASSERT_TRUE(env_->started);
    if (own_id_.empty()) {
      own_id_ = stored_failure(kTenantA);
      foreign_id_ = stored_failure(kTenantB);
    }
  }

  static std::string fill(std::string text) {
    for (const auto& [mark, value] : {std::pair{std::string("{own}"), own_id_},
                                      std::pair{std::string("{foreign}"), foreign_id_}}) {
      for (auto pos = text.find(mark); pos != std::string::npos; pos = text.find(mark)) {
        text.replace(pos, mark.size(), value);
      }
    }
    return text;
  }

  static inline Env* env_ = nullptr;
  static inline std::string own_id_;
  static inline std::string foreign_id_;
};

std::string route_key(const Router::RouteInfo& r) {
  return r.method + " " + r.route_template;
}

TEST_F(RouteAccess, EveryRouteHasADecisionAndTheDeclaredAccess) {
  const auto cases = route_cases();
  std::set<std::string> seen;
  for (const auto& r : env_->router.routes()) {
    const auto key = route_key(r);
    seen.insert(key);
    const auto it = cases.find(key);
    ASSERT_NE(it, cases.end()) << key << " has no row in the access matrix: decide who may call it";
    EXPECT_EQ(static_cast<int>(r.access), static_cast<int>(it->second.access)) << key;
  }
  for (const auto& [key, c] : cases) EXPECT_EQ(seen.count(key), 1u) << key << " is not routed";
}

TEST_F(RouteAccess, WithoutAKeyOnlyOpenRoutesAnswer) {
  for (const auto& r : env_->router.routes()) {
    const auto c = route_cases().at(route_key(r));
    for (const auto& key : {std::optional<std::string>{}, std::optional<std::string>{kBadKey}}) {
      const auto response = call(r.method, fill(c.path), fill(c.body), key);
      const int expected = c.access == Access::open ? c.ok_status : 401;
      EXPECT_EQ(response.status, expected)
          << route_key(r) << " with " << (key ? "a bad key" : "no key") << ": " << response.body;
      if (expected == 401) {
        bool challenge = false;
        for (const auto& [name, value] : response.headers) {
          challenge = challenge || (name == "WWW-Authenticate" && value.rfind("Bearer", 0) == 0);
        }
        EXPECT_TRUE(challenge) << route_key(r);
      }
    }
  }
}

TEST_F(RouteAccess, EachRoleReachesExactlyItsRoutes) {
  const std::vector<std::pair<std::string, Role>> keys = {{kIngestKey, Role::ingest},
                                                          {kReaderKey, Role::reader},
                                                          {kOperatorKey, Role::operator_role},
                                                          {kAdminKey, Role::admin}};
  for (const auto& r : env_->router.routes()) {
    const auto c = route_cases().at(route_key(r));
    for (const auto& [key, role] : keys) {
      const auto response = call(r.method, fill(c.path), fill(c.body), key);
      const int expected = role_allows(role, c.access) ? c.ok_status : 403;
      EXPECT_EQ(response.status, expected)
          << route_key(r) << " as " << role_name(role) << ": " << response.body;
    }
  }
}

TEST_F(RouteAccess, TenantKeysNeverSeeOrTouchAnotherTenant) {
  const std::map<Access, std::string> tenant_key = {
      {Access::ingest, kIngestKey}, {Access::read, kReaderKey}, {Access::operate, kOperatorKey}};
  for (const auto& r : env_->router.routes()) {
    const auto c = route_cases().at(route_key(r));
    const auto key = tenant_key.find(c.access);
    if (key == tenant_key.end()) continue;
    // Its own tenant: allowed, and nothing of tenant B in the answer.
    const auto own = call(r.method, fill(c.path), fill(c.body), key->second);
    EXPECT_EQ(own.status, c.ok_status) << route_key(r) << ": " << own.body;
    EXPECT_EQ(own.body.find(kTenantB), std::string::npos) << route_key(r) << ": " << own.body;
    EXPECT_EQ(own.body.find(foreign_id_), std::string::npos) << route_key(r) << ": " << own.body;
    if (c.foreign_status == 0) continue;
    // Tenant B: refused (403 when named explicitly, 404 for its objects, never confirmed).
    const auto foreign = call(r.method, fill(c.foreign_path), fill(c.foreign_body), key->second);
    EXPECT_EQ(foreign.status, c.foreign_status) << route_key(r) << ": " << foreign.body;
    if (c.foreign_status == 404) {
      // Indistinguishable from an id that does not exist.
      const std::string unknown = "01890000-0000-7000-8000-0000000000ff";
      std::string path = c.foreign_path;
      path.replace(path.find("{foreign}"), 9, unknown);
      const auto missing = call(r.method, path, fill(c.foreign_body), key->second);
      std::string body = foreign.body;
      body.replace(body.find(foreign_id_), foreign_id_.size(), unknown);
      EXPECT_EQ(missing.status, 404) << route_key(r);
      EXPECT_EQ(body, missing.body) << route_key(r);
    } else {
      EXPECT_EQ(foreign.body.find(foreign_id_), std::string::npos) << route_key(r);
    }
    // The admin acts for every tenant.
    const auto admin = call(r.method, fill(c.foreign_path), fill(c.foreign_body), kAdminKey);
    EXPECT_EQ(admin.status, c.ok_status) << route_key(r) << " as admin: " << admin.body;
  }
}

TEST_F(RouteAccess, TenantIngestWithoutTenantTakesTheKeysTenant) {
  const auto created = call("POST", "/api/v1/failures", failure_body(std::nullopt), kIngestKey);
  ASSERT_EQ(created.status, 202) << created.body;
  EXPECT_EQ(nlohmann::json::parse(created.body).at("tenant_id"), kTenantA);
  const auto own = call("POST", "/api/v1/failures", failure_body(kTenantA), kIngestKey);
  EXPECT_EQ(own.status, 202) << own.body;
}

TEST_F(RouteAccess, TenantBulkRecoveryLeavesOtherTenantsAlone) {
  const auto bulk = call("POST", "/api/v1/failures/recovery/bulk",
                         R"({"recovery_succeeded":true,"run_id":"matrix"})", kOperatorKey);
  ASSERT_EQ(bulk.status, 200) << bulk.body;
  const auto foreign = call("GET", "/api/v1/failures/" + foreign_id_, "", kAdminKey);
  ASSERT_EQ(foreign.status, 200);
  EXPECT_FALSE(nlohmann::json::parse(foreign.body).at("recovery_succeeded").get<bool>());
  const auto own = call("GET", "/api/v1/failures/" + own_id_, "", kAdminKey);
  EXPECT_TRUE(nlohmann::json::parse(own.body).at("recovery_succeeded").get<bool>());
}

TEST_F(RouteAccess, TenantReadsAreNarrowedToItsTenant) {
  const auto list = call("GET", "/api/v1/failures", "", kReaderKey);
  ASSERT_EQ(list.status, 200);
  const auto body = nlohmann::json::parse(list.body);
  for (const auto& item : body.at("items")) {
    EXPECT_EQ(item.at("tenant_id"), kTenantA);
  }
  const auto mine = call("GET", "/api/v1/failures?tenant_id=" + kTenantA, "", kReaderKey);
  EXPECT_EQ(mine.status, 200);
  const auto all = call("GET", "/api/v1/failures?tenant_id=" + kTenantB, "", kAdminKey);
  ASSERT_EQ(all.status, 200);
  EXPECT_NE(all.body.find(foreign_id_), std::string::npos);
}

}  // namespace
}  // namespace failcat
