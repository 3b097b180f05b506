#include "api/http_server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/net.h>
#include <pistache/peer.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <mutex>
#include <random>

#include "api/problem.hpp"
#include "config/logging.hpp"
#include "core/ascii.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

using namespace Pistache;

std::string method_name(Http::Method m) {
  switch (m) {
    case Http::Method::Get:
      return "GET";
    case Http::Method::Post:
      return "POST";
    case Http::Method::Put:
      return "PUT";
    case Http::Method::Patch:
      return "PATCH";
    case Http::Method::Delete:
      return "DELETE";
    case Http::Method::Head:
      return "HEAD";
    case Http::Method::Options:
      return "OPTIONS";
    case Http::Method::Trace:
      return "TRACE";
    case Http::Method::Connect:
      return "CONNECT";
    default:
      return "OTHER";
  }
}

/// A HEAD answer: GET's status line and headers, with the Content-Length GET's content would
/// have (RFC 9110 9.3.2), and no content, which a client would otherwise read as the start of
/// the next response on the connection. Written raw because Pistache's writer always states the
/// length of what it sends.
Async::Promise<ssize_t> send_head(Http::ResponseWriter& writer, const HttpResponse& response,
                                  const std::string& request_id, bool keep_alive, bool http10) {
  const auto code = static_cast<Http::Code>(response.status);
  std::string head = std::string(http10 ? "HTTP/1.0 " : "HTTP/1.1 ") +
                     std::to_string(response.status) + " " + Http::codeString(code) + "\r\n";
  head += "Content-Type: " + response.content_type + "\r\n";
  head += "X-Request-Id: " + request_id + "\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  head += keep_alive ? "Connection: Keep-Alive\r\n" : "Connection: Close\r\n";
  head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
  const std::size_t length = head.size();
  auto peer = writer.peer();
  // What ResponseWriter::send does too: the connection is idle again, so Pistache applies
  // the keep-alive timeout to it rather than the header timeout (which answers 408).
  peer->setIdle(true);
  return peer->send(RawBuffer(std::move(head), length));
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A response header with a run-time name (Pistache writes only typed headers).
class NamedHeader final : public Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override {
    return std::hash<std::string>{}(name_);
  }
#endif

 private:
  std::string name_;
  std::string value_;
};

/// Whether a request is answered yet: its responder answers once, and the request counts in
/// `failcat_inflight_requests` from arrival until answered (or until the last copy of its
/// responder is gone unanswered).
class PendingAnswer {
 public:
  explicit PendingAnswer(Metrics& metrics) : metrics_(metrics) { metrics_.request_started(); }
  ~PendingAnswer() {
    if (!answered_.load()) metrics_.request_finished();
  }
  PendingAnswer(const PendingAnswer&) = delete;
  PendingAnswer& operator=(const PendingAnswer&) = delete;
  /// True for the first answer only.
  bool claim() {
    if (answered_.exchange(true)) return false;
    metrics_.request_finished();
    return true;
  }

 private:
  Metrics& metrics_;
  std::atomic<bool> answered_{false};
};

std::string random_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t a = rng();
  std::uint64_t b = rng();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (4 * i)) & 0xf];
    id[16 + i] = kHex[(b >> (4 * i)) & 0xf];
  }
  return id;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_digit(text[i + 1]);
      const int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool is_json_media_type(std::string_view content_type) {
  const auto trim = [](std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
  };
  const auto semicolon = content_type.find(';');
  const std::string type = ascii_lower(trim(content_type.substr(0, semicolon)));
  constexpr std::string_view kApplication = "application/";
  if (type.compare(0, kApplication.size(), kApplication) != 0) return false;
  const std::string_view subtype = std::string_view(type).substr(kApplication.size());
  const bool json =
      subtype == "json" || (subtype.size() > 5 && subtype.substr(subtype.size() - 5) == "+json");
  if (!json) return false;
  std::string_view params =
      semicolon == std::string_view::npos ? std::string_view{} : content_type.substr(semicolon + 1);
  while (!params.empty()) {
    const auto next = params.find(';');
    const std::string param = ascii_lower(trim(params.substr(0, next)));
    params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
    if (param.rfind("charset=", 0) != 0) continue;
    std::string charset = param.substr(8);
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') {
      charset = charset.substr(1, charset.size() - 2);
    }
    if (charset != "utf-8" && charset != "utf8") return false;
  }
  return true;
}

std::string choose_request_id(const std::optional<std::string>& header) {
  if (header && !header->empty() && header->size() <= 128) {
    bool sane = true;
    for (char c : *header) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-' || c == ':';
      if (!ok) {
        sane = false;
        break;
      }
    }
    if (sane) return *header;
  }
  return random_request_id();
}

class HttpServer::Impl final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Impl)

  Impl(HttpServerOptions options, const Router& router, Metrics& metrics, RequestGate gate)
      : options_(std::move(options)), router_(router), metrics_(metrics), gate_(std::move(gate)) {}

  // Pistache clones the prototype per listener thread; share the configuration.
  Impl(const Impl& other)
      : Http::Handler(other),
        options_(other.options_),
        router_(other.router_),
        metrics_(other.metrics_),
        gate_(other.gate_),
        draining_(other.draining_) {}

  void onRequest(const Http::Request& wire, Http::ResponseWriter writer) override {
    const auto started = std::chrono::steady_clock::now();
    auto request = std::make_shared<HttpRequest>();
    try {
      request->method = method_name(wire.method());
      request->path = wire.resource();
      for (auto it = wire.query().parameters_begin(); it != wire.query().parameters_end(); ++it) {
        auto key = percent_decode(it->first);
        auto value = percent_decode(it->second);
        request->query.emplace_back(key.value_or(it->first), value.value_or("\x01invalid"));
      }
      for (const auto& [name, raw] : wire.headers().rawList()) {
        request->headers[ascii_lower(name)] = raw.value();
      }
      request->body = wire.body();
    } catch (const std::exception& e) {
      log_event(LogLevel::warn, "malformed request", {{"error", e.what()}});
    }
    request->request_id = choose_request_id(request->header("x-request-id"));

    // HTTP/1.1 connections persist unless the client asks otherwise (Pistache defaults to
    // `Connection: close` when the request has no Connection header).
    const std::string connection = ascii_lower(request->header("connection").value_or(""));
    const bool wants_close = connection.find("close") != std::string::npos;
    const bool keep_alive = wire.version() == Http::Version::Http11 && !wants_close;
    // Said explicitly either way: Pistache echoes an HTTP/1.0 client's `keep-alive`, which
    // this server does not honour (it closes HTTP/1.0 connections after the answer).
    writer.headers().remove<Http::Header::Connection>();
    writer.headers().add<Http::Header::Connection>(keep_alive ? Http::ConnectionControl::KeepAlive
                                                              : Http::ConnectionControl::Close);
    // Pistache writes `Connection: close` but leaves the socket open; close it once the answer
    // is out, as the header promises.
    std::shared_ptr<Tcp::Peer> closing_peer;
    if (!keep_alive) {
      try {
        closing_peer = writer.peer();
      } catch (const std::exception&) {
        closing_peer.reset();
      }
    }

    auto shared_writer = std::make_shared<Http::ResponseWriter>(std::move(writer));
    Metrics* metrics = &metrics_;
    auto pending = std::make_shared<PendingAnswer>(*metrics);
    const bool http10 = wire.version() == Http::Version::Http10;
    Responder respond = [shared_writer, pending, request, started, metrics, closing_peer,
                         keep_alive, http10](HttpResponse response) {
      if (!pending->claim()) return;
      try {
        Async::Promise<ssize_t> written = Async::Promise<ssize_t>::resolved(0);
        if (request->method == "HEAD") {
          written = send_head(*shared_writer, response, request->request_id, keep_alive, http10);
        } else {
          auto& headers = shared_writer->headers();
          headers.add(std::make_shared<NamedHeader>("X-Request-Id", request->request_id));
          for (auto& [name, value] : response.headers) {
            headers.add(std::make_shared<NamedHeader>(std::move(name), std::move(value)));
          }
          const auto mime = Http::Mime::MediaType::fromString(response.content_type);
          written =
              shared_writer->send(static_cast<Http::Code>(response.status), response.body, mime);
        }
        if (closing_peer) {
          // Runs on the peer's transport thread once the bytes are written, before that
          // thread could release the descriptor; shutdown (not close) lets Pistache reap it.
          written.then([closing_peer](ssize_t) { ::shutdown(closing_peer->fd(), SHUT_RDWR); },
                       Async::IgnoreException);
        }
      } catch (const std::exception& e) {
        log_event(LogLevel::warn, "response not sent",
                  {{"request_id", request->request_id}, {"error", e.what()}});
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const std::string route =
          request->route.empty() ? std::string(kUnmatchedRoute) : request->route;
      metrics->http_request(request->method, route, response.status, seconds);
      log_event(LogLevel::info, "http",
                {{"request_id", request->request_id},
                 {"method", request->method},
                 {"route", route},
                 {"status", std::to_string(response.status)},
                 {"key", request->principal.name},
                 {"ms", std::to_string(seconds * 1000.0)}});
    };
    dispatch(request, std::move(respond));
  }

  void dispatch(const std::shared_ptr<HttpRequest>& request, Responder respond) {
    try {
      auto match = router_.match(request->method, request->path);
      if (match.kind == Router::Match::Kind::not_found) {
        respond(problem_response(404, "no route for " + request->path, request->request_id));
        return;
      }
      if (match.kind == Router::Match::Kind::method_not_allowed && request->method == "OPTIONS") {
        // What the path supports, and nothing else: no CORS headers, so a browser's
        // cross-site preflight fails.
        request->route = match.route;
        HttpResponse response;
        response.status = 200;
        response.content_type = "text/plain; charset=utf-8";
        response.with_header("Allow", match.allow);
        respond(std::move(response));
        return;
      }
      if (match.kind == Router::Match::Kind::method_not_allowed) {
        request->route = match.route;
        auto response =
            problem_response(405, request->method + " is not allowed here", request->request_id);
        response.with_header("Allow", match.allow);
        respond(std::move(response));
        return;
      }
      request->route = match.route;
      request->access = match.access;
      request->path_params = std::move(match.params);
      if (draining_->load() && match.route.rfind("/api/", 0) == 0) {
        metrics_.rejected(Metrics::RejectReason::shutting_down);
        respond(problem_response(503, "shutting down", request->request_id));  // Retry-After: 1
        return;
      }
      if (gate_) {
        if (auto refused = gate_(*request)) {
          respond(std::move(*refused));
          return;
        }
      }
      const bool large =
          std::find(options_.large_body_routes.begin(), options_.large_body_routes.end(),
                    match.route) != options_.large_body_routes.end();
      const std::size_t limit = large ? options_.max_large_body_bytes : options_.max_body_bytes;
      if (request->body.size() > limit) {
        respond(problem_response(413, "request body exceeds " + std::to_string(limit) + " bytes",
                                 request->request_id));
        return;
      }
      // Every body is JSON. Asking for it says so, and keeps a web page from driving the API
      // with a form post or a text/plain body, which browsers send cross-site unasked.
      if (!request->body.empty()) {
        const auto type = request->header("content-type");
        if (!type || !is_json_media_type(*type)) {
          respond(problem_response(415,
                                   type ? "Content-Type " + *type + " is not application/json"
                                        : "a request body needs Content-Type: application/json",
                                   request->request_id, "Content-Type"));
          return;
        }
      }
      (*match.handler)(*request, respond);
    } catch (const std::exception& e) {
      log_event(LogLevel::error, "handler failed",
                {{"request_id", request->request_id}, {"error", e.what()}});
      respond(problem_response(500, "internal error", request->request_id));
    }
  }

  void onTimeout(const Http::Request&, Http::ResponseWriter writer) override {
    writer.send(Http::Code::Request_Timeout, "request timed out");
  }

  HttpServerOptions options_;
  const Router& router_;
  Metrics& metrics_;
  RequestGate gate_;
  /// Shared by the clones: set once the server stops taking API work (begin_drain).
  std::shared_ptr<std::atomic<bool>> draining_ = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<Http::Endpoint> endpoint_;
};

HttpServer::HttpServer(HttpServerOptions options, const Router& router, Metrics& metrics,
                       RequestGate gate)
    : impl_(std::make_unique<Impl>(std::move(options), router, metrics, std::move(gate))) {}

HttpServer::~HttpServer() {
  shutdown();
}

Status HttpServer::start() {
  try {
    const auto& o = impl_->options_;
    Address address(o.host, Port(static_cast<std::uint16_t>(o.port)));
    impl_->endpoint_ = std::make_unique<Http::Endpoint>(address);
    auto opts = Http::Endpoint::options()
                    .threads(o.threads)
                    .threadsName("fc-http")
                    .flags(Tcp::Options::ReuseAddr)
                    .maxRequestSize(o.max_request_bytes)
                    .maxResponseSize(64u << 20)
                    .headerTimeout(std::chrono::milliseconds(o.header_timeout_ms))
                    .bodyTimeout(std::chrono::milliseconds(o.body_timeout_ms));
    impl_->endpoint_->init(opts);
    // The endpoint clones the prototype handler per worker thread.
    impl_->endpoint_->setHandler(std::make_shared<Impl>(*impl_));
    impl_->endpoint_->serveThreaded();
    return ok_status();
  } catch (const std::exception& e) {
    impl_->endpoint_.reset();
    return Error::unavailable("cannot listen on " + impl_->options_.host + ":" +
                              std::to_string(impl_->options_.port) + ": " + e.what());
  }
}

int HttpServer::port() const {
  return impl_->endpoint_
             ? static_cast<int>(static_cast<std::uint16_t>(impl_->endpoint_->getPort()))
             : 0;
}

void HttpServer::begin_drain() {
  if (impl_) impl_->draining_->store(true);
}

void HttpServer::shutdown() {
  if (impl_ && impl_->endpoint_) {
    impl_->endpoint_->shutdown();
    impl_->endpoint_.reset();
  }
}

}  // namespace failcat
