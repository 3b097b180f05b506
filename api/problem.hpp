#pragma once

#include <string>
#include <string_view>

#include "api/http_types.hpp"
#include "core/result.hpp"

namespace failcat {

/// The one place an error becomes an HTTP status.
int http_status_for(ErrorKind kind);

/// An RFC 9457 `application/problem+json` response: `type`, `title`, `status`, `detail`,
/// `request_id` and, when set, the offending `field`.
HttpResponse problem_response(int status, std::string_view detail, std::string_view request_id,
                              std::string_view field = {});

/// The problem response for an error value (status from `http_status_for`); 503s carry
/// `Retry-After`. The message of an `internal` error is not shown to the client.
HttpResponse error_response(const Error& error, std::string_view request_id);

}  // namespace failcat
