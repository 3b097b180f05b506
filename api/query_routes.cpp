// GET routes over stored failures: list, one, stats, unrecovered, aggregates.
#include "actors/failure_service.hpp"
#include "api/api_context.hpp"
#include "api/http_server.hpp"
#include "api/router.hpp"
#include "core/failure_json.hpp"
#include "core/query_parsing.hpp"
#include "core/uuid.hpp"
#include "storage/failure_store.hpp"

namespace failcat {
namespace {

std::string encode_query_component(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

/// The URL of the next page: the same query with `cursor` replacing `offset`/`cursor`.
std::string next_link(const HttpRequest& request, const std::string& cursor) {
  std::string url = request.path + "?";
  for (const auto& [k, v] : request.query) {
    if (k == "cursor" || k == "offset") continue;
    url += encode_query_component(k) + "=" + encode_query_component(v) + "&";
  }
  return url + "cursor=" + encode_query_component(cursor);
}

nlohmann::json items_json(const std::vector<FailureRecord>& rows) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : rows) items.push_back(failure_to_json(r));
  return items;
}

int window_hours(Micros since, Micros now) {
  return static_cast<int>((now - since + kMicrosPerHour / 2) / kMicrosPerHour);
}

/// Runs `query` on a storage actor; answers with `render(result)` or the error.
template <class T, class Query, class Render>
void run_read(ApiContext& ctx, const HttpRequest& request, Responder respond, Query query,
              Render render) {
  auto result = std::make_shared<Result<T>>(Error::unavailable("not run"));
  const std::string request_id = request.request_id;
  ctx.service.call_store(
      [result, query = std::move(query)](FailureStore& store) { *result = query(store); },
      [result, respond, request_id, render = std::move(render)](Status ran) {
        if (!ran) return respond(store_error_response(ran.error(), request_id));
        if (!*result) return respond(store_error_response(result->error(), request_id));
        respond(render(result->value()));
      });
}

}  // namespace

void add_query_routes(Router& router, ApiContext& ctx) {
  router.add(
      "GET", "/api/v1/failures", Access::read,
      [&ctx](const HttpRequest& request, Responder respond) {
        auto query = parse_list_params(request.query, ctx.clock.now());
        if (!query) return respond(error_response(query.error(), request.request_id));
        if (auto refused = refuse_foreign_tenant(request, query->filter.tenant_id)) {
          return respond(*refused);
        }
        const auto scope = scope_of(request);
        auto req = std::make_shared<HttpRequest>(request);
        const ListQuery q = *query;
        run_read<FailurePage>(
            ctx, request, respond, [scope, q](FailureStore& store) { return store.list(scope, q); },
            [req, q](const FailurePage& page) {
              nlohmann::json body = {{"items", items_json(page.items)},
                                     {"total", page.total},
                                     {"total_exact", page.total_exact},
                                     {"limit", q.limit},
                                     {"offset", q.offset},
                                     {"next_cursor", nullptr}};
              HttpResponse response;
              if (page.next) {
                ListCursor next = *page.next;
                next.filters = q.filters_digest;  // it pages only these filters
                const auto cursor = encode_cursor(next);
                body["next_cursor"] = cursor;
                response = json_response(200, body);
                response.with_header("Link", "<" + next_link(*req, cursor) + ">; rel=\"next\"");
              } else {
                response = json_response(200, body);
              }
              return response;
            });
      });

  router.add(
      "GET", "/api/v1/failures/{id}", Access::read,
      [&ctx](const HttpRequest& request, Responder respond) {
        if (auto none = require_no_params(request.query); !none) {
          return respond(error_response(none.error(), request.request_id));
        }
        auto id = canonical_uuid(request.path_params.at("id"));
        if (!id) {
          return respond(problem_response(400, "id must be a UUID", request.request_id, "id"));
        }
        const auto scope = scope_of(request);
        const std::string request_id = request.request_id;
        const std::string wanted = *id;
        run_read<std::optional<FailureRecord>>(
            ctx, request, respond,
            [scope, wanted](FailureStore& store) { return store.get(scope, wanted); },
            [request_id, wanted](const std::optional<FailureRecord>& found) {
              if (!found) {
                return problem_response(404, "no failure " + wanted, request_id);
              }
              auto response = json_response(200, failure_to_json(*found));
              response.with_header("ETag", record_etag(*found));
              return response;
            });
      });

  router.add("GET", "/api/v1/failures/stats", Access::read,
             [&ctx](const HttpRequest& request, Responder respond) {
               const Micros now = ctx.clock.now();
               auto query = parse_stats_params(request.query, now);
               if (!query) return respond(error_response(query.error(), request.request_id));
               if (auto refused = refuse_foreign_tenant(request, query->tenant_id)) {
                 return respond(*refused);
               }
               const auto scope = scope_of(request);
               const StatsQuery q = *query;
               const int hours = window_hours(q.since, now);
               run_read<FailureStats>(
                   ctx, request, respond,
                   [scope, q](FailureStore& store) { return store.stats(scope, q); },
                   [hours](const FailureStats& stats) {
                     return json_response(200, stats_to_json(stats, hours));
                   });
             });

  router.add("GET", "/api/v1/failures/unrecovered", Access::read,
             [&ctx](const HttpRequest& request, Responder respond) {
               auto query = parse_unrecovered_params(request.query, ctx.clock.now());
               if (!query) return respond(error_response(query.error(), request.request_id));
               if (auto refused = refuse_foreign_tenant(request, query->tenant_id)) {
                 return respond(*refused);
               }
               const auto scope = scope_of(request);
               const UnrecoveredQuery q = *query;
               run_read<FailurePage>(
                   ctx, request, respond,
                   [scope, q](FailureStore& store) { return store.unrecovered(scope, q); },
                   [q](const FailurePage& page) {
                     return json_response(200, {{"items", items_json(page.items)},
                                                {"total", page.total},
                                                {"limit", q.limit},
                                                {"offset", q.offset}});
                   });
             });

  router.add(
      "GET", "/api/v1/aggregates", Access::read,
      [&ctx](const HttpRequest& request, Responder respond) {
        const Micros now = ctx.clock.now();
        auto query = parse_aggregate_params(request.query, now);
        if (!query) return respond(error_response(query.error(), request.request_id));
        if (auto refused = refuse_foreign_tenant(request, query->tenant_id)) {
          return respond(*refused);
        }
        const auto scope = scope_of(request);
        const AggregateQuery q = *query;
        const int hours = window_hours(q.since, now);
        run_read<std::vector<AggregateRow>>(
            ctx, request, respond,
            [scope, q](FailureStore& store) { return store.aggregates(scope, q); },
            [hours](const std::vector<AggregateRow>& rows) {
              nlohmann::json items = nlohmann::json::array();
              for (const auto& row : rows) items.push_back(aggregate_to_json(row));
              return json_response(200, {{"window_hours", hours}, {"items", std::move(items)}});
            });
      });
}

}  // namespace failcat
