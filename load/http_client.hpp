#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace failcat::load {

/// A complete HTTP/1.1 response.
struct HttpReply {
  int status = 0;
  std::string body;
  bool close = false;  ///< The server asked to close the connection.
  std::vector<std::pair<std::string, std::string>> headers;  ///< Names lower-cased.

  const std::string* header(std::string_view lower_name) const;
};

/// Parses one response from the start of `buffer`. Returns the bytes it took (0: incomplete,
/// wait for more); sets `error` and returns 0 on a response it cannot read (chunked bodies are
/// not supported: failcat and the baseline always send Content-Length). `with_headers` keeps
/// the header list.
std::size_t parse_reply(std::string_view buffer, HttpReply& reply, std::string& error,
                        bool with_headers);

/// Builds the wire form of a request with a Content-Length body (empty body: none).
std::string build_request(const std::string& method, const std::string& target,
                          const std::string& host_header, const std::string& body,
                          const std::string& extra_headers = {});

/// A blocking keep-alive HTTP/1.1 client over one loopback TCP connection (reconnects when the
/// server closes it). For the handful of API calls validation makes, not for load.
class HttpClient {
 public:
  HttpClient(std::string host, int port, int timeout_ms = 30'000);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpReply> request(const std::string& method, const std::string& target,
                            const std::string& body = {});
  Result<HttpReply> get(const std::string& target) { return request("GET", target); }

 private:
  Status connect_socket();
  void close_socket();

  std::string host_;
  int port_;
  int timeout_ms_;
  int fd_ = -1;
  std::string buffer_;
};

/// Opens a non-blocking-ready TCP connection to host:port (IPv4 literal or "localhost"), with
/// TCP_NODELAY. Returns the socket or -1 with `error` set.
int connect_tcp(const std::string& host, int port, std::string& error);

}  // namespace failcat::load
