// Health, readiness, metrics, catalog and breaker administration.
#include <mutex>

#include "actors/failure_service.hpp"
#include "api/api_context.hpp"
#include "api/router.hpp"
#include "config/logging.hpp"
#include "core/catalog.hpp"
#include "core/failure_json.hpp"
#include "core/query_parsing.hpp"
#include "core/request_parsing.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

HttpResponse text_response(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

nlohmann::json breaker_json(const BreakerView& v) {
  return {{"state", v.state},
          {"mode", v.mode},
          {"consecutive_failures", v.consecutive_failures},
          {"last_transition", v.last_transition ? nlohmann::json(format_rfc3339(v.last_transition))
                                                : nlohmann::json(nullptr)},
          {"transitions", v.transitions},
          {"probe_in_ms", v.probe_in / 1000},
          {"wal_backlog_rows", v.wal_backlog_rows},
          {"wal_bytes", v.wal_bytes}};
}

}  // namespace

CatalogReload reload_catalog(CatalogHolder& catalog, Metrics& metrics, const std::string& path) {
  // One reload at a time (the API and SIGHUP): each reads the file after the one before it
  // swapped its catalog in, so the last to start is the one that stays — a slow parse of an
  // older file can no longer finish after a newer one — and the gauge and log agree with it.
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  CatalogReload out;
  auto load = catalog.reload(path);
  if (load.ok()) {
    out.ok = true;
    out.version = load.catalog->version();
    out.entries = load.catalog->summary().entries;
    metrics.catalog_reloaded(Metrics::Outcome::success);
    metrics.set_catalog_entries(out.entries);
    log_event(LogLevel::info, "catalog reloaded",
              {{"version", out.version}, {"entries", std::to_string(out.entries)}});
  } else {
    const auto current = catalog.current();
    out.version = current->version();
    out.entries = current->summary().entries;
    for (const auto& p : load.problems) out.problems.push_back(describe(p));
    metrics.catalog_reloaded(Metrics::Outcome::failure);
    log_event(LogLevel::error, "catalog reload rejected; the previous catalog stays",
              {{"path", path},
               {"problems", std::to_string(out.problems.size())},
               {"first", out.problems.empty() ? "" : out.problems.front()}});
  }
  return out;
}

void add_health_routes(Router& router, ApiContext& ctx) {
  auto alive = [](const HttpRequest&, Responder respond) { respond(text_response(200, "ok\n")); };
  router.add("GET", "/healthz", Access::open, alive);
  router.add("GET", "/livez", Access::open, alive);
  router.add("GET", "/readyz", Access::open, [&ctx](const HttpRequest&, Responder respond) {
    const auto ready = ctx.service.readiness();
    respond(text_response(ready.accepting ? 200 : 503, ready.detail + "\n"));
  });
  router.add("GET", "/metrics", Access::open, [&ctx](const HttpRequest&, Responder respond) {
    HttpResponse response;
    response.content_type = std::string(kMetricsContentType);
    response.body = ctx.metrics.serialize();
    respond(std::move(response));
  });
}

void add_admin_routes(Router& router, ApiContext& ctx) {
  router.add("GET", "/api/v1/catalog", Access::read,
             [&ctx](const HttpRequest& request, Responder respond) {
               if (auto none = require_no_params(request.query); !none) {
                 return respond(error_response(none.error(), request.request_id));
               }
               respond(json_response(200, catalog_to_json(*ctx.catalog.current())));
             });

  router.add(
      "POST", "/api/v1/catalog/reload", Access::admin,
      [&ctx](const HttpRequest& request, Responder respond) {
        if (auto none = require_no_params(request.query); !none) {
          return respond(error_response(none.error(), request.request_id));
        }
        if (auto empty = parse_empty_body(request.body); !empty) {
          return respond(error_response(empty.error(), request.request_id));
        }
        // Parsing a large catalog takes a second or more: not on an HTTP thread.
        ctx.service.run_detached([&ctx, respond, request_id = request.request_id] {
          CatalogReload result;
          try {
            result = reload_catalog(ctx.catalog, ctx.metrics, ctx.catalog_path);
          } catch (const std::exception& e) {
            log_event(LogLevel::error, "catalog reload failed", {{"error", e.what()}});
            return respond(problem_response(500, "internal error", request_id));
          }
          if (!result.ok) {
            auto response = problem_response(
                422, "the new catalog is invalid; version " + result.version + " stays", request_id,
                "catalog");
            auto body = nlohmann::json::parse(response.body);
            body["type"] = "https://failcat.dev/problems/invalid-catalog";
            body["problems"] = result.problems;
            response.body = dump_json(body);
            return respond(std::move(response));
          }
          respond(json_response(
              200, {{"reloaded", true}, {"version", result.version}, {"entries", result.entries}}));
        });
      });

  router.add(
      "GET", "/api/v1/admin/breaker", Access::read,
      [&ctx](const HttpRequest& request, Responder respond) {
        if (auto none = require_no_params(request.query); !none) {
          return respond(error_response(none.error(), request.request_id));
        }
        ctx.service.breaker(
            std::nullopt,
            [respond](const BreakerView& view) { respond(json_response(200, breaker_json(view))); },
            [respond, request_id = request.request_id](const Error& error) {
              respond(error_response(error, request_id));
            });
      });

  router.add(
      "POST", "/api/v1/admin/breaker", Access::admin,
      [&ctx](const HttpRequest& request, Responder respond) {
        if (auto none = require_no_params(request.query); !none) {
          return respond(error_response(none.error(), request.request_id));
        }
        auto action = parse_breaker_action(request.body);
        if (!action) return respond(error_response(action.error(), request.request_id));
        ctx.service.breaker(
            *action,
            [respond](const BreakerView& view) { respond(json_response(200, breaker_json(view))); },
            [respond, request_id = request.request_id](const Error& error) {
              respond(error_response(error, request_id));
            });
      });
}

}  // namespace failcat
