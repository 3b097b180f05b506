// POST /api/v1/failures, /api/v1/failures/batch and /api/v1/match.
#include <string_view>
#include <unordered_map>

#include "actors/failure_service.hpp"
#include "api/api_context.hpp"
#include "api/router.hpp"
#include "core/catalog.hpp"
#include "core/failure_json.hpp"
#include "core/query_parsing.hpp"
#include "core/request_parsing.hpp"
#include "core/uuid.hpp"

namespace failcat {
namespace {

/// Keys are stored in a 255-character column.
constexpr std::size_t kMaxIdempotencyKeyBytes = 255;
/// A batch's items are keyed `<header>:<index>`, the index below 1,000: the header leaves room.
constexpr std::size_t kMaxBatchIdempotencyKeyBytes = kMaxIdempotencyKeyBytes - 4;
static_assert(kMaxBatchItems <= 1000, "the batch key's index suffix is at most 4 characters");

/// The `Idempotency-Key` header, validated: printable ASCII, 1..`max_bytes` bytes.
Result<std::optional<std::string>> idempotency_header(const HttpRequest& request,
                                                      std::size_t max_bytes) {
  auto key = request.header("idempotency-key");
  if (!key) return std::optional<std::string>{};
  if (key->empty() || key->size() > max_bytes) {
    return Error::invalid("Idempotency-Key",
                          "must be 1 to " + std::to_string(max_bytes) + " characters");
  }
  for (char c : *key) {
    if (c < 0x21 || c > 0x7e) {
      return Error::invalid("Idempotency-Key", "must be printable ASCII without spaces");
    }
  }
  return std::optional<std::string>(*key);
}

/// Applies the caller's tenant: a tenant key fills in a missing tenant and refuses a foreign
/// one; otherwise a missing tenant is the default tenant.
std::optional<HttpResponse> settle_tenant(const HttpRequest& request, FailureInput& input) {
  if (auto refused = refuse_foreign_tenant(request, input.tenant_id)) return refused;
  if (!input.tenant_id) {
    input.tenant_id = request.principal.tenant.value_or(std::string(kDefaultTenant));
  }
  return std::nullopt;
}

nlohmann::json ingest_item(const IngestOutcome& outcome, std::size_t i) {
  auto object = failure_to_json(outcome.records[i]);
  add_match_details(object, outcome.details[i]);
  return object;
}

HttpResponse render_single(const IngestOutcome& outcome) {
  auto response = json_response(202, ingest_item(outcome, 0));
  if (outcome.replayed[0]) response.with_header("Idempotent-Replayed", "true");
  response.with_header("Location", "/api/v1/failures/" + outcome.records[0].id);
  return response;
}

HttpResponse render_batch(const IngestOutcome& outcome) {
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < outcome.records.size(); ++i) items.push_back(ingest_item(outcome, i));
  return json_response(202, {{"items", std::move(items)}});
}

/// The 202 rendered on a matcher thread (`IngestJob::Prepare`), with the records it shows:
/// the persister's thread then only sends it, unless a record changed meanwhile (a key another
/// request took first), in which case the answer is rendered again.
struct PreparedAnswer {
  std::vector<std::string> ids;
  std::vector<bool> replayed;
  HttpResponse response;

  bool shows(const IngestOutcome& outcome) const {
    if (outcome.replayed != replayed || outcome.records.size() != ids.size()) return false;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (outcome.records[i].id != ids[i]) return false;
    }
    return true;
  }
};
using PreparedSlot = std::shared_ptr<std::optional<PreparedAnswer>>;

IngestJob::Prepare prepare_into(PreparedSlot slot, HttpResponse (*render)(const IngestOutcome&)) {
  return [slot = std::move(slot), render](const IngestOutcome& outcome) {
    PreparedAnswer answer;
    answer.ids.reserve(outcome.records.size());
    for (const auto& r : outcome.records) answer.ids.push_back(r.id);
    answer.replayed = outcome.replayed;
    answer.response = render(outcome);
    *slot = std::move(answer);
  };
}

IngestJob::Callback answer_from(PreparedSlot slot, HttpResponse (*render)(const IngestOutcome&),
                                Responder respond, std::string request_id) {
  return [slot = std::move(slot), render, respond = std::move(respond),
          request_id = std::move(request_id)](const Result<IngestOutcome>& outcome) {
    if (!outcome) return respond(error_response(outcome.error(), request_id));
    if (*slot && (*slot)->shows(*outcome)) return respond(std::move((*slot)->response));
    respond(render(*outcome));
  };
}

}  // namespace

void add_ingest_routes(Router& router, ApiContext& ctx) {
  router.add("POST", "/api/v1/failures", Access::ingest,
             [&ctx](const HttpRequest& request, Responder respond) {
               if (auto none = require_no_params(request.query); !none) {
                 return respond(error_response(none.error(), request.request_id));
               }
               auto key = idempotency_header(request, kMaxIdempotencyKeyBytes);
               if (!key) return respond(error_response(key.error(), request.request_id));
               auto input = parse_failure_body(request.body);
               if (!input) return respond(error_response(input.error(), request.request_id));
               if (auto refused = settle_tenant(request, *input)) return respond(*refused);
               std::optional<std::string> item_key = input->event_id ? input->event_id : *key;
               std::vector<FailureInput> inputs{std::move(*input)};
               std::vector<std::optional<std::string>> keys{std::move(item_key)};
               auto slot = std::make_shared<std::optional<PreparedAnswer>>();
               ctx.service.ingest(std::move(inputs), std::move(keys),
                                  answer_from(slot, render_single, respond, request.request_id),
                                  prepare_into(slot, render_single));
             });

  router.add("POST", "/api/v1/failures/batch", Access::ingest,
             [&ctx](const HttpRequest& request, Responder respond) {
               if (auto none = require_no_params(request.query); !none) {
                 return respond(error_response(none.error(), request.request_id));
               }
               auto key = idempotency_header(request, kMaxBatchIdempotencyKeyBytes);
               if (!key) return respond(error_response(key.error(), request.request_id));
               auto inputs = parse_failure_batch(request.body);
               if (!inputs) return respond(error_response(inputs.error(), request.request_id));
               std::vector<std::optional<std::string>> keys;
               keys.reserve(inputs->size());
               for (std::size_t i = 0; i < inputs->size(); ++i) {
                 auto& in = (*inputs)[i];
                 if (refuse_foreign_tenant(request, in.tenant_id)) {
                   return respond(problem_response(
                       403, "this API key may not act for tenant " + *in.tenant_id,
                       request.request_id, "failures[" + std::to_string(i) + "].tenant_id"));
                 }
                 settle_tenant(request, in);
                 if (in.event_id) {
                   keys.push_back(in.event_id);
                 } else if (*key) {
                   keys.push_back(**key + ":" + std::to_string(i));
                 } else {
                   keys.emplace_back();
                 }
               }
               // One key, one item: an event_id may not be another item's derived key (keys
               // are per tenant, so two tenants' items may share one).
               std::unordered_map<std::string, std::size_t> seen;
               for (std::size_t i = 0; i < keys.size(); ++i) {
                 if (!keys[i]) continue;
                 const auto [at, added] =
                     seen.emplace(*(*inputs)[i].tenant_id + '\n' + *keys[i], i);
                 if (added) continue;
                 const std::size_t other = at->second;
                 const std::size_t named = (*inputs)[i].event_id ? i : other;
                 return respond(problem_response(
                     400,
                     "items " + std::to_string(other) + " and " + std::to_string(i) +
                         " have the same idempotency key",
                     request.request_id, "failures[" + std::to_string(named) + "].event_id"));
               }
               auto slot = std::make_shared<std::optional<PreparedAnswer>>();
               ctx.service.ingest(std::move(*inputs), std::move(keys),
                                  answer_from(slot, render_batch, respond, request.request_id),
                                  prepare_into(slot, render_batch));
             });

  router.add("POST", "/api/v1/match", Access::ingest,
             [&ctx](const HttpRequest& request, Responder respond) {
               if (auto none = require_no_params(request.query); !none) {
                 return respond(error_response(none.error(), request.request_id));
               }
               auto input = parse_failure_body(request.body);
               if (!input) return respond(error_response(input.error(), request.request_id));
               if (auto refused = settle_tenant(request, *input)) return respond(*refused);
               ctx.service.match(
                   std::move(*input),
                   [respond](const FailureInput& in, const MatchResult& m, const Catalog& catalog) {
                     respond(json_response(200, match_to_json(in, m, catalog)));
                   },
                   [respond, request_id = request.request_id](const Error& error) {
                     respond(error_response(error, request_id));
                   });
             });
}

}  // namespace failcat
