#include "load/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace failcat::load {

const std::string* HttpReply::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return &v;
  }
  return nullptr;
}

std::size_t parse_reply(std::string_view buffer, HttpReply& reply, std::string& error,
                        bool with_headers) {
  const auto head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return 0;
  const std::string_view head = buffer.substr(0, head_end);
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/") {
    error = "malformed status line";
    return 0;
  }
  reply.status = std::atoi(std::string(head.substr(9, 3)).c_str());
  reply.close = head.substr(0, 8) == "HTTP/1.0";
  reply.headers.clear();
  std::optional<std::size_t> length;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    const std::size_t start = pos + 2;
    std::size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(start, end - start);
    pos = end == head.size() ? std::string_view::npos : end;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (name.size() == 14 && strncasecmp(name.data(), "content-length", 14) == 0) {
      length = static_cast<std::size_t>(std::strtoull(std::string(value).c_str(), nullptr, 10));
    } else if (name.size() == 10 && strncasecmp(name.data(), "connection", 10) == 0) {
      reply.close = value.size() == 5 && strncasecmp(value.data(), "close", 5) == 0;
    } else if (name.size() == 17 && strncasecmp(name.data(), "transfer-encoding", 17) == 0) {
      error = "chunked responses are not supported";
      return 0;
    }
    if (with_headers) {
      std::string lower(name);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers.emplace_back(std::move(lower), std::string(value));
    }
  }
  const std::size_t body_len = length.value_or(0);
  const std::size_t total = head_end + 4 + body_len;
  if (buffer.size() < total) return 0;
  reply.body.assign(buffer.data() + head_end + 4, body_len);
  return total;
}

std::string build_request(const std::string& method, const std::string& target,
                          const std::string& host_header, const std::string& body,
                          const std::string& extra_headers) {
  std::string out;
  out.reserve(body.size() + 160);
  out += method;
  out += ' ';
  out += target;
  out += " HTTP/1.1\r\nHost: ";
  out += host_header;
  out += "\r\n";
  out += extra_headers;
  if (!body.empty() || method == "POST" || method == "PATCH") {
    out += "Content-Type: application/json\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

int connect_tcp(const std::string& host, int port, std::string& error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const std::string ip = host == "localhost" ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    error = "not an IPv4 address: " + host;
    return -1;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::strerror(errno);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = "connect " + ip + ":" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

HttpClient::HttpClient(std::string host, int port, int timeout_ms)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

HttpClient::~HttpClient() {
  close_socket();
}

void HttpClient::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

Status HttpClient::connect_socket() {
  std::string error;
  fd_ = connect_tcp(host_, port_, error);
  if (fd_ < 0) return Error::unavailable(error);
  return ok_status();
}

Result<HttpReply> HttpClient::request(const std::string& method, const std::string& target,
                                      const std::string& body) {
  const std::string wire = build_request(method, target, host_ + ":" + std::to_string(port_), body);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0) {
      if (auto s = connect_socket(); !s) return s.error();
    }
    bool sent = true;
    for (std::size_t off = 0; off < wire.size();) {
      const ssize_t n = ::send(fd_, wire.data() + off, wire.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        sent = false;
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    if (!sent) {
      close_socket();
      continue;
    }
    HttpReply reply;
    std::string error;
    char chunk[65536];
    for (;;) {
      const std::size_t used = parse_reply(buffer_, reply, error, true);
      if (!error.empty()) {
        close_socket();
        return Error::unavailable(error);
      }
      if (used > 0) {
        buffer_.erase(0, used);
        if (reply.close) close_socket();
        return reply;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms_) <= 0) {
        close_socket();
        return Error::unavailable(method + " " + target + ": no answer within timeout");
      }
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    // The server closed a kept-alive connection before answering: retry once on a new one.
    const bool had_partial = !buffer_.empty();
    close_socket();
    if (had_partial) return Error::unavailable(method + " " + target + ": connection closed");
  }
  return Error::unavailable(method + " " + target + ": connection closed");
}

}  // namespace failcat::load
