// PATCH /api/v1/failures/{id}/recovery and POST /api/v1/failures/recovery/bulk.
#include <string_view>
#include <vector>

#include "actors/failure_service.hpp"
#include "api/api_context.hpp"
#include "api/router.hpp"
#include "core/failure_json.hpp"
#include "core/query_parsing.hpp"
#include "core/request_parsing.hpp"
#include "core/uuid.hpp"

namespace failcat {
namespace {

/// A version no failure ever has: what a weak or malformed `If-Match` tag demands, so that
/// the change fails 412 (with the current `ETag`) rather than silently overwriting.
constexpr Micros kNoVersion = -1;

/// The version one entity tag of this server's names, or kNoVersion (a weak tag never matches
/// for If-Match, which compares strongly).
Micros tag_version(std::string_view tag) {
  if (tag.size() < 3 || tag.front() != '"' || tag.back() != '"') return kNoVersion;
  Micros value = 0;
  for (char c : tag.substr(1, tag.size() - 2)) {
    if (c < '0' || c > '9' || value > (INT64_MAX - 9) / 10) return kNoVersion;
    value = value * 10 + (c - '0');
  }
  return value;
}

/// The versions an `If-Match` header accepts, any of them (RFC 9110 §13.1.1: a list of entity
/// tags): nullopt for none or `*`. Evaluated by the store, after the failure is found: a
/// missing failure is a 404 and a bad body a 400 whatever the header says (§13.2.2).
std::optional<std::vector<Micros>> if_match(const HttpRequest& request) {
  auto header = request.header("if-match");
  if (!header) return std::nullopt;
  std::string_view rest = *header;
  std::vector<Micros> versions;
  while (true) {
    const auto comma = rest.find(',');
    std::string_view tag = rest.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*") {
      if (versions.empty() && comma == std::string_view::npos) return std::nullopt;
      versions.push_back(kNoVersion);  // `*` belongs alone; in a list it matches nothing
    } else if (!tag.empty()) {
      versions.push_back(tag_version(tag));
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (versions.empty()) versions.push_back(kNoVersion);
  return versions;
}

RecoveryUpdate to_update(const HttpRequest& request, const RecoveryPatch& patch, Micros now) {
  RecoveryUpdate update;
  update.recovery_succeeded = patch.recovery_succeeded;
  update.recovery_attempted = patch.recovery_attempted;
  update.notes = patch.notes;
  update.recovered_by = patch.recovered_by;
  if (request.principal.key) {
    // The audit names the API key that made the change, whatever `recovered_by` claims.
    update.actor = request.principal.name;
    if (!update.recovered_by) update.recovered_by = request.principal.name;
  }
  update.at = now;
  return update;
}

}  // namespace

void add_recovery_routes(Router& router, ApiContext& ctx) {
  router.add(
      "PATCH", "/api/v1/failures/{id}/recovery", Access::operate,
      [&ctx](const HttpRequest& request, Responder respond) {
        if (auto none = require_no_params(request.query); !none) {
          return respond(error_response(none.error(), request.request_id));
        }
        auto id = canonical_uuid(request.path_params.at("id"));
        if (!id)
          return respond(problem_response(400, "id must be a UUID", request.request_id, "id"));
        auto patch = parse_recovery_patch(request.body);
        if (!patch) return respond(error_response(patch.error(), request.request_id));
        auto job = std::make_shared<RecoveryJob>();
        job->scope = scope_of(request);
        job->id = *id;
        job->update = to_update(request, *patch, ctx.clock.now());
        job->if_updated_at = if_match(request);
        const std::string request_id = request.request_id;
        const std::string wanted = *id;
        job->done_one = [respond, request_id, wanted](Result<RecoveryUpdateResult> result) {
          if (!result) return respond(store_error_response(result.error(), request_id));
          switch (result->outcome) {
            case UpdateOutcome::not_found:
              return respond(problem_response(404, "no failure " + wanted, request_id));
            case UpdateOutcome::precondition_failed: {
              auto response = problem_response(412, "the failure changed since that ETag",
                                               request_id, "If-Match");
              if (result->record) response.with_header("ETag", record_etag(*result->record));
              return respond(std::move(response));
            }
            case UpdateOutcome::updated: {
              auto response = json_response(200, failure_to_json(*result->record));
              response.with_header("ETag", record_etag(*result->record));
              return respond(std::move(response));
            }
          }
        };
        ctx.service.recover(std::move(job));
      });

  router.add("POST", "/api/v1/failures/recovery/bulk", Access::operate,
             [&ctx](const HttpRequest& request, Responder respond) {
               if (auto none = require_no_params(request.query); !none) {
                 return respond(error_response(none.error(), request.request_id));
               }
               const Micros now = ctx.clock.now();
               auto bulk = parse_bulk_recovery(request.body, now);
               if (!bulk) return respond(error_response(bulk.error(), request.request_id));
               if (auto refused = refuse_foreign_tenant(request, bulk->filter.tenant_id)) {
                 return respond(*refused);
               }
               auto job = std::make_shared<RecoveryJob>();
               job->scope = scope_of(request);
               job->filter = bulk->filter;
               job->update = to_update(request, bulk->patch, now);
               const std::string request_id = request.request_id;
               job->done_bulk = [respond, request_id](Result<std::int64_t> updated) {
                 if (!updated) return respond(store_error_response(updated.error(), request_id));
                 respond(json_response(200, {{"updated", *updated}}));
               };
               ctx.service.recover(std::move(job));
             });
}

}  // namespace failcat
