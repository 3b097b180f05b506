#include "api/api_context.hpp"

#include "actors/pipeline_status.hpp"
#include "config/logging.hpp"
#include "core/failure_json.hpp"

namespace failcat {

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = dump_json(body);
  return response;
}

HttpResponse store_error_response(const Error& error, const std::string& request_id) {
  // Refused before reaching the database (an operator or the failures isolated it): no store
  // error to log, and the caller may learn why.
  if (error.message == kDatabaseIsolated) {
    auto response = problem_response(503, error.message, request_id);
    if (error.retry_after_seconds > 0) {
      for (auto& [name, value] : response.headers) {
        if (name == "Retry-After") value = std::to_string(error.retry_after_seconds);
      }
    }
    return response;
  }
  log_event(LogLevel::warn, "database error",
            {{"request_id", request_id}, {"error", error.message}});
  // A value the database refuses that validation let through: a 400, since a retry cannot
  // help (never "unavailable, retry"); what the database said stays in the log above.
  if (error.kind == ErrorKind::rejected) {
    return problem_response(400, "the database refused a value of this request", request_id);
  }
  if (error.kind == ErrorKind::overloaded) return error_response(error, request_id);
  return problem_response(503, "the database is unavailable; retry later", request_id);
}

TenantScope scope_of(const HttpRequest& request) {
  return request.principal.tenant ? TenantScope::only(*request.principal.tenant)
                                  : TenantScope::all();
}

std::optional<HttpResponse> refuse_foreign_tenant(const HttpRequest& request,
                                                  const std::optional<std::string>& tenant_id) {
  if (!tenant_id || !request.principal.tenant || *tenant_id == *request.principal.tenant) {
    return std::nullopt;
  }
  return problem_response(403, "this API key may not act for tenant " + *tenant_id,
                          request.request_id, "tenant_id");
}

}  // namespace failcat
