#pragma once
// Internal to api/: what the route handlers share.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/http_types.hpp"
#include "api/problem.hpp"
#include "core/clock.hpp"
#include "core/failure_query.hpp"

namespace failcat {

class FailureService;
class Metrics;
class CatalogHolder;
class Router;

/// Everything the API routes use, handed in by the composition root.
struct ApiContext {
  FailureService& service;
  Metrics& metrics;
  CatalogHolder& catalog;
  const Clock& clock;
  std::string catalog_path;
};

/// A JSON response with `status`.
HttpResponse json_response(int status, const nlohmann::json& body);

/// A 503 for an error that came from the database: the client gets a generic problem, the
/// log gets the store's message (it may name tables, hosts or SQL).
HttpResponse store_error_response(const Error& error, const std::string& request_id);

/// The tenants the caller may see: its key's tenant, or all.
TenantScope scope_of(const HttpRequest& request);

/// Checks an explicit `tenant_id` (query or body) against the caller's key: a tenant key
/// naming another tenant is refused with 403. Returns the refusal, or nullopt.
std::optional<HttpResponse> refuse_foreign_tenant(const HttpRequest& request,
                                                  const std::optional<std::string>& tenant_id);

/// Reloads the catalog file (admin API and SIGHUP): swaps it in when valid, keeps the old
/// one otherwise; logs and counts the outcome.
struct CatalogReload {
  bool ok = false;
  std::string version;
  std::size_t entries = 0;
  std::vector<std::string> problems;
};
CatalogReload reload_catalog(CatalogHolder& catalog, Metrics& metrics, const std::string& path);

/// Registers the routes of each area.
void add_health_routes(Router& router, ApiContext& ctx);
void add_ingest_routes(Router& router, ApiContext& ctx);
void add_query_routes(Router& router, ApiContext& ctx);
void add_recovery_routes(Router& router, ApiContext& ctx);
void add_admin_routes(Router& router, ApiContext& ctx);
void add_ui_routes(Router& router, ApiContext& ctx);

/// Every route of the service.
inline void add_all_routes(Router& router, ApiContext& ctx) {
  add_health_routes(router, ctx);
  add_ingest_routes(router, ctx);
  add_query_routes(router, ctx);
  add_recovery_routes(router, ctx);
  add_admin_routes(router, ctx);
  add_ui_routes(router, ctx);
}

}  // namespace failcat
