#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "load/http_client.hpp"
#include "load/latency_histogram.hpp"

namespace failcat::load {

/// How `drive` loads a server.
struct DriveOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  /// Keep-alive connections, spread over `threads` epoll loops.
  int connections = 16;
  int threads = 1;
  /// Requests per second over all connections; 0 runs closed-loop (each connection sends its
  /// next request as soon as the previous answer arrives). With a rate, request k is due at
  /// start + k / rate and its latency is measured from then, not from when a connection became
  /// free to send it, so a slow server cannot hide its stalls (no coordinated omission).
  double rate = 0;
  /// Stop issuing after this long (0: no time limit).
  double duration_s = 0;
  /// Stop issuing after this many requests (0: no count limit).
  std::uint64_t max_requests = 0;
  /// A request without an answer after this long counts as a timeout; its connection is
  /// replaced.
  int timeout_ms = 10'000;
  /// How long to wait for outstanding answers once issuing stopped.
  int drain_ms = 10'000;
};

/// Counters the caller may read from another thread while `drive` runs (progress lines).
struct DriveProgress {
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> failed{0};  ///< Transport errors and timeouts.
};

struct DriveResult {
  /// Every answered request, in nanoseconds; in open loop also each timed-out request (its
  /// wait until given up) and each request due before the end that no connection was free to
  /// send (its wait until the end: a lower bound), so a stall is never left out.
  LatencyHistogram latency;
  std::map<int, std::uint64_t> statuses;
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;
  std::uint64_t transport_errors = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t unsent = 0;  ///< Open loop: due before the end, never sent (all connections busy).
  double elapsed_s = 0;      ///< From the start until the last answer.
  std::string first_error;
};

/// The wire bytes of request `k` (k counts from 0 over the whole run); called from the loop
/// threads, so it must be thread-safe and the string must outlive the request.
using RequestSource = std::function<const std::string&(std::uint64_t k)>;
/// Called from a loop thread for every finished request: the answer, or nullptr after a
/// transport error or timeout. `thread` is the loop's index (0..threads-1).
using ReplySink = std::function<void(int thread, std::uint64_t k, const HttpReply* reply)>;

/// Loads a server over keep-alive HTTP/1.1 connections until the count, the duration or
/// `stop` ends it, then waits (bounded) for outstanding answers.
DriveResult drive(const DriveOptions& options, const RequestSource& source, const ReplySink& sink,
                  const std::atomic<bool>& stop, DriveProgress& progress);

}  // namespace failcat::load
