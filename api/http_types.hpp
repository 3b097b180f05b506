#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace failcat {

/// What a route requires of the caller.
enum class Access {
  open,     ///< Anyone (health, readiness, metrics, the UI page).
  ingest,   ///< POST of failures and matching.
  read,     ///< GET of failures, stats, aggregates, catalog, breaker.
  operate,  ///< Recovery changes (PATCH, bulk).
  admin,    ///< Catalog reload, breaker control.
};

/// API key roles (SPEC §9).
enum class Role { ingest, reader, operator_role, admin };

/// Who is calling. Without a keys file the server runs open and every caller is an admin of
/// every tenant.
struct Principal {
  std::string name = "open";
  /// Who made the request was proven by an API key (false on a server without keys; a key
  /// may be named anything, "open" included).
  bool key = false;
  Role role = Role::admin;
  std::optional<std::string> tenant;  ///< nullopt: every tenant.
};

/// A parsed HTTP request, independent of the server library so handlers are testable alone.
struct HttpRequest {
  std::string method;  ///< Upper case: GET, POST, PATCH, …
  std::string path;    ///< Without the query string.
  /// Decoded query parameters, in no particular order. Pistache keeps one value of a name
  /// repeated verbatim (`?limit=1&limit=2`); names that differ only in percent-encoding both
  /// arrive here, and the parsers refuse such a repeat.
  std::vector<std::pair<std::string, std::string>> query;
  /// Header names lower-cased.
  std::map<std::string, std::string> headers;
  std::string body;
  std::string request_id;
  /// Values of `{name}` segments of the matched route.
  std::map<std::string, std::string> path_params;
  /// The matched route template (`/api/v1/failures/{id}`), for metrics and logs.
  std::string route;
  Access access = Access::open;
  Principal principal;

  std::optional<std::string> header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  HttpResponse& with_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

/// Sends the response for one request. Call exactly once, from any thread; later calls are
/// ignored.
using Responder = std::function<void(HttpResponse)>;

/// Handles one routed request; may answer now or later (from an actor's reply).
using RouteHandler = std::function<void(const HttpRequest&, Responder)>;

}  // namespace failcat
