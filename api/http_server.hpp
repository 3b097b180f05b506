#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/http_types.hpp"
#include "api/router.hpp"
#include "core/result.hpp"

namespace failcat {

class Metrics;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 2;
  /// Largest request the server reads at all (Pistache answers 413 itself beyond it).
  std::size_t max_request_bytes = (1u << 20) + (16u << 10);
  /// Largest body of routes not listed in `large_body_routes`.
  std::size_t max_body_bytes = 64u << 10;
  /// Largest body of the routes in `large_body_routes`; `max_request_bytes` leaves room for
  /// the request line and headers on top of it.
  std::size_t max_large_body_bytes = 1u << 20;
  /// Route templates allowed up to `max_large_body_bytes` of body (batch ingest).
  std::vector<std::string> large_body_routes;
  int header_timeout_ms = 10'000;
  int body_timeout_ms = 30'000;
};

/// Runs after routing (404 and 405 come first) and before the body-size check and the handler;
/// sets `request.principal`, or returns the response to answer at once (401/403).
using RequestGate = std::function<std::optional<HttpResponse>(HttpRequest&)>;

/// The Pistache front end: turns wire requests into HttpRequest, routes them, enforces size
/// limits, keeps HTTP/1.1 connections alive, stamps `X-Request-Id`, logs one access line and
/// records HTTP metrics. Handlers answer through a Responder that may be called later from
/// another thread, so no Pistache thread waits on an actor or a database.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, const Router& router, Metrics& metrics,
             RequestGate gate = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts serving on background threads.
  Status start();
  /// The bound port (useful with port 0).
  int port() const;
  /// From now on, API requests (`/api/…`) are refused with 503 and `Retry-After` (counted as
  /// `failcat_rejected_total{reason="shutting_down"}`): the server is stopping, and a caller
  /// should go elsewhere. Health, metrics and the UI still answer; answers already owed are
  /// still sent.
  void begin_drain();
  /// Stops accepting and closes connections.
  void shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// A request id from the caller's header when it is sane (1–128 of `[A-Za-z0-9._:-]`), else a
/// fresh random one.
std::string choose_request_id(const std::optional<std::string>& header);

/// Whether a Content-Type names JSON: `application/json` or `application/<x>+json`, any case,
/// with parameters, a charset only if UTF-8.
bool is_json_media_type(std::string_view content_type);

/// Percent-decodes a query component (`+` is a space). nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace failcat
