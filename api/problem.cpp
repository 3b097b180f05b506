#include "api/problem.hpp"

#include <nlohmann/json.hpp>

namespace failcat {
namespace {

const char* title_for(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

const char* type_for(int status) {
  switch (status) {
    case 400:
      return "https://failcat.dev/problems/invalid-request";
    case 401:
      return "https://failcat.dev/problems/unauthenticated";
    case 403:
      return "https://failcat.dev/problems/forbidden";
    case 404:
      return "https://failcat.dev/problems/not-found";
    case 405:
      return "https://failcat.dev/problems/method-not-allowed";
    case 412:
      return "https://failcat.dev/problems/precondition-failed";
    case 413:
      return "https://failcat.dev/problems/too-large";
    case 415:
      return "https://failcat.dev/problems/unsupported-media-type";
    case 422:
      return "https://failcat.dev/problems/idempotency-key-reused";
    case 503:
      return "https://failcat.dev/problems/unavailable";
    default:
      return "about:blank";
  }
}

}  // namespace

int http_status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return 400;
    case ErrorKind::not_found:
      return 404;
    case ErrorKind::precondition_failed:
      return 412;
    case ErrorKind::conflict:
      return 409;
    case ErrorKind::unavailable:
      return 503;
    case ErrorKind::overloaded:
      return 503;
    case ErrorKind::key_reused:
      return 422;
    case ErrorKind::rejected:
      // A value the database refuses that validation let through: retrying cannot help.
      return 400;
    case ErrorKind::internal:
      // Only the stores report `internal` (a statement the database refused). Nothing the
      // client sent caused it, so it is a 503 to retry, never a 500.
      return 503;
  }
  return 500;
}

HttpResponse problem_response(int status, std::string_view detail, std::string_view request_id,
                              std::string_view field) {
  nlohmann::json body = {{"type", type_for(status)},
                         {"title", title_for(status)},
                         {"status", status},
                         {"detail", std::string(detail)},
                         {"request_id", std::string(request_id)}};
  if (!field.empty()) body["field"] = std::string(field);
  HttpResponse response;
  response.status = status;
  response.content_type = "application/problem+json";
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (status == 503) response.with_header("Retry-After", "1");
  return response;
}

HttpResponse error_response(const Error& error, std::string_view request_id) {
  const int status = http_status_for(error.kind);
  // Internal details stay in the log; the client learns only that the store failed.
  const std::string detail = error.kind == ErrorKind::internal
                                 ? "the store could not complete the request"
                                 : error.message;
  return problem_response(status, detail, request_id, error.field);
}

}  // namespace failcat
