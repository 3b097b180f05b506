// GET /ui/: the operators' recovery review page (static files; data comes from the API).
#include "api/api_context.hpp"
#include "api/router.hpp"
#include "api/ui_assets.hpp"

namespace failcat {
namespace {

HttpResponse asset(std::string_view name, const char* content_type) {
  HttpResponse response;
  for (const auto& a : ui_assets()) {
    if (a.name == name) response.body = std::string(a.content);
  }
  response.content_type = content_type;
  // Scripts and styles only from this origin: values shown on the page cannot run code.
  response.with_header("Content-Security-Policy",
                       "default-src 'self'; object-src 'none'; frame-ancestors 'none'");
  response.with_header("X-Content-Type-Options", "nosniff");
  response.with_header("Cache-Control", "no-cache");
  return response;
}

}  // namespace

void add_ui_routes(Router& router, ApiContext&) {
  router.add("GET", "/ui", Access::open, [](const HttpRequest&, Responder respond) {
    respond(asset("index.html", "text/html; charset=utf-8"));
  });
  router.add("GET", "/ui/app.js", Access::open, [](const HttpRequest&, Responder respond) {
    respond(asset("app.js", "text/javascript; charset=utf-8"));
  });
  router.add("GET", "/ui/app.css", Access::open, [](const HttpRequest&, Responder respond) {
    respond(asset("app.css", "text/css; charset=utf-8"));
  });
}

}  // namespace failcat
