#include "api/open_gate.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>

#include "api/problem.hpp"
#include "core/ascii.hpp"

namespace failcat {
namespace {

/// The name part of a Host value (`name`, `name:port`, `[v6]:port`), lower-cased; nullopt
/// when it is malformed.
std::optional<std::string> host_name(std::string_view host) {
  if (host.empty()) return std::nullopt;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    return ascii_lower(host.substr(1, close - 1));
  }
  const auto colon = host.find(':');
  auto name = host.substr(0, colon);
  if (name.empty()) return std::nullopt;
  if (name.back() == '.') name.remove_suffix(1);  // "localhost." is localhost
  return ascii_lower(name);
}

bool is_address_literal(const std::string& name) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, name.c_str(), &v4) == 1 || inet_pton(AF_INET6, name.c_str(), &v6) == 1;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_safe_method(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

/// `scheme://authority` of an Origin header, as its authority; nullopt for `null` or junk.
std::optional<std::string> origin_authority(std::string_view origin) {
  const auto scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  auto authority = origin.substr(scheme_end + 3);
  if (const auto slash = authority.find('/'); slash != std::string_view::npos) {
    authority = authority.substr(0, slash);
  }
  if (authority.empty()) return std::nullopt;
  return ascii_lower(authority);
}

}  // namespace

RequestGate make_open_gate(OpenGateOptions options) {
  const bool any_host = options.allowed_hosts.size() == 1 && options.allowed_hosts[0] == "*";
  return [allowed_hosts = options.allowed_hosts,
          loopback_only = options.loopback_only &&
                          !any_host](HttpRequest& request) -> std::optional<HttpResponse> {
    if (request.access == Access::open) return std::nullopt;
    const auto host = request.header("host");
    if (loopback_only && host) {
      const auto name = host_name(*host);
      const bool allowed =
          name &&
          (is_address_literal(*name) || *name == "localhost" || ends_with(*name, ".localhost") ||
           std::find(allowed_hosts.begin(), allowed_hosts.end(), *name) != allowed_hosts.end());
      if (!allowed) {
        return problem_response(403,
                                "without API keys this server answers only requests addressed "
                                "to a loopback name, an IP address or a name in "
                                "FAILCAT_ALLOWED_HOSTS",
                                request.request_id, "Host");
      }
    }
    if (is_safe_method(request.method)) return std::nullopt;
    const auto site = request.header("sec-fetch-site");
    bool cross_site = false;
    if (site) {
      const auto s = ascii_lower(*site);
      cross_site = s == "cross-site" || s == "same-site";
    } else if (const auto origin = request.header("origin")) {
      const auto authority = origin_authority(*origin);
      cross_site = !authority || !host || *authority != ascii_lower(*host);
    }
    if (cross_site) {
      return problem_response(403,
                              "a change sent by a page of another site is refused (this server "
                              "runs without API keys)",
                              request.request_id, "Origin");
    }
    return std::nullopt;
  };
}

}  // namespace failcat
