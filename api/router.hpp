#pragma once

#include <string>
#include <vector>

#include "api/http_types.hpp"

namespace failcat {

/// Maps (method, path) to a handler. Literal segments beat `{param}` segments, so
/// `/failures/stats` is never taken for `/failures/{id}`.
class Router {
 public:
  void add(std::string method, std::string route_template, Access access, RouteHandler handler);

  struct Match {
    enum class Kind { found, not_found, method_not_allowed } kind = Kind::not_found;
    const RouteHandler* handler = nullptr;
    std::string route;  ///< The template that matched the path.
    Access access = Access::open;
    std::map<std::string, std::string> params;
    std::string allow;  ///< For 405: the methods the path supports, comma-separated.
  };

  Match match(const std::string& method, const std::string& path) const;

  /// Every registered route template (for metrics label pre-creation).
  std::vector<std::string> templates() const;

  struct RouteInfo {
    std::string method;
    std::string route_template;
    Access access;
  };
  /// Every route (for the authorisation test matrix and docs).
  std::vector<RouteInfo> routes() const;

 private:
  struct Route {
    std::string method;
    std::string route_template;
    std::vector<std::string> segments;
    Access access;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace failcat
