#include "api/router.hpp"

#include <algorithm>
#include <set>

namespace failcat {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    if (i >= path.size()) break;
    const auto j = path.find('/', i);
    out.push_back(path.substr(i, j == std::string::npos ? std::string::npos : j - i));
    i = j == std::string::npos ? path.size() : j;
  }
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// How specific a match is: one point per literal segment, so literals win over params.
int match_score(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                std::map<std::string, std::string>* params) {
  if (pattern.size() != path.size()) return -1;
  int score = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (is_param(pattern[i])) {
      if (params) (*params)[pattern[i].substr(1, pattern[i].size() - 2)] = path[i];
    } else if (pattern[i] == path[i]) {
      ++score;
    } else {
      return -1;
    }
  }
  return score;
}

}  // namespace

void Router::add(std::string method, std::string route_template, Access access,
                 RouteHandler handler) {
  auto segments = split_path(route_template);
  routes_.push_back(Route{std::move(method), std::move(route_template), std::move(segments), access,
                          std::move(handler)});
}

std::vector<Router::RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_) out.push_back({r.method, r.route_template, r.access});
  return out;
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  const auto segments = split_path(path);
  Match result;
  // The most specific template for this path decides; methods are checked against it.
  int best = -1;
  for (const auto& r : routes_) best = std::max(best, match_score(r.segments, segments, nullptr));
  if (best < 0) return result;
  std::set<std::string> allowed;
  for (const auto& r : routes_) {
    if (match_score(r.segments, segments, nullptr) != best) continue;
    allowed.insert(r.method);
    result.route = r.route_template;
    if (r.method == method || (method == "HEAD" && r.method == "GET")) {
      result.kind = Match::Kind::found;
      result.handler = &r.handler;
      result.route = r.route_template;
      result.access = r.access;
      match_score(r.segments, segments, &result.params);
      return result;
    }
  }
  result.kind = Match::Kind::method_not_allowed;
  // HEAD is answered wherever GET is, and OPTIONS everywhere (RFC 9110 9.3.2, 9.3.7).
  if (allowed.count("GET") != 0) allowed.insert("HEAD");
  allowed.insert("OPTIONS");
  for (const auto& m : allowed) {
    if (!result.allow.empty()) result.allow += ", ";
    result.allow += m;
  }
  return result;
}

std::vector<std::string> Router::templates() const {
  std::vector<std::string> out;
  for (const auto& r : routes_) {
    if (std::find(out.begin(), out.end(), r.route_template) == out.end()) {
      out.push_back(r.route_template);
    }
  }
  return out;
}

}  // namespace failcat
