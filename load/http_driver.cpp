#include "load/http_driver.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

namespace failcat::load {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

/// A request due at `due_ns` that the run's end (`end_ns`) found unsent: it waited at least
/// until then, and leaving it out would hide the stall that kept it (open loop only).
void count_unsent(DriveResult& r, std::int64_t due_ns, std::int64_t end_ns) {
  r.latency.record(static_cast<std::uint64_t>(end_ns - due_ns));
  ++r.unsent;
}

struct Connection {
  int fd = -1;
  enum class State { idle, scheduled, busy } state = State::idle;
  std::uint64_t k = 0;
  std::int64_t due_ns = 0;   ///< When the request should go out (open loop) or went out.
  std::int64_t sent_ns = 0;  ///< When it actually went out.
  const std::string* wire = nullptr;
  std::size_t written = 0;
  bool want_write = false;
  std::string in;
};

/// Shared issuing state of one run.
struct Shared {
  Shared(const DriveOptions& o, const RequestSource& src, const ReplySink& snk,
         const std::atomic<bool>& st, DriveProgress& p)
      : options(o), source(src), sink(snk), stop(st), progress(p) {}

  const DriveOptions& options;
  const RequestSource& source;
  const ReplySink& sink;
  const std::atomic<bool>& stop;
  DriveProgress& progress;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;  ///< 0: no time limit.
  std::atomic<std::uint64_t> next{0};
  std::mutex mutex;
  std::string first_error;

  void note_error(const std::string& e) {
    std::lock_guard<std::mutex> lock(mutex);
    if (first_error.empty()) first_error = e;
  }
};

class Loop {
 public:
  Loop(Shared& shared, int index, int connections)
      : s_(shared), index_(index), conns_(static_cast<std::size_t>(connections)) {}

  DriveResult run() {
    // Wake-ups 1 µs late at most (the default slack is 50 µs): a late send counts as latency.
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    DriveResult r;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < conns_.size(); ++i) open(i, r);
    bool issuing = true;
    std::int64_t drain_until = 0;
    std::vector<epoll_event> events(conns_.size() + 1);
    for (;;) {
      std::int64_t now = now_ns();
      if (issuing && (s_.stop.load() || (s_.end_ns != 0 && now >= s_.end_ns))) issuing = false;
      if (issuing) issuing = assign(now, r);
      if (!issuing) {
        for (auto& c : conns_) {
          if (c.state != Connection::State::scheduled) continue;
          c.state = Connection::State::idle;
          if (s_.end_ns != 0 && c.due_ns < s_.end_ns) count_unsent(r, c.due_ns, s_.end_ns);
        }
        if (drain_until == 0) drain_until = now + s_.options.drain_ms * 1'000'000ll;
        if (busy() == 0) break;
        if (now >= drain_until) {
          expire_all(r);
          break;
        }
      }
      expire_overdue(now, r);
      // Sleep until the next scheduled send, to the nanosecond: rounding a sub-millisecond
      // wait down to 0 ms would spin, and on a small machine a spinning client takes the CPU
      // from the server it measures.
      std::int64_t wait_ns = 50'000'000;
      for (const auto& c : conns_) {
        if (c.state == Connection::State::scheduled) {
          wait_ns = std::min<std::int64_t>(wait_ns, std::max<std::int64_t>(0, c.due_ns - now));
        }
      }
      const timespec wait{static_cast<time_t>(wait_ns / 1'000'000'000),
                          static_cast<long>(wait_ns % 1'000'000'000)};
      const int n =
          epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &wait, nullptr);
      for (int e = 0; e < n; ++e) {
        const std::size_t i = events[static_cast<std::size_t>(e)].data.u64;
        const auto flags = events[static_cast<std::size_t>(e)].events;
        if (flags & EPOLLOUT) flush(i, r);
        if (flags & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(i, r);
      }
    }
    for (auto& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    ::close(ep_);
    return r;
  }

 private:
  std::size_t busy() const {
    return static_cast<std::size_t>(std::count_if(conns_.begin(), conns_.end(), [](const auto& c) {
      return c.state == Connection::State::busy;
    }));
  }

  bool open(std::size_t i, DriveResult& r) {
    auto& c = conns_[i];
    std::string error;
    c.fd = connect_tcp(s_.options.host, s_.options.port, error);
    c.in.clear();
    c.state = Connection::State::idle;
    c.want_write = false;
    if (c.fd < 0) {
      ++r.transport_errors;
      s_.note_error(error);
      return false;
    }
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void reopen(std::size_t i, DriveResult& r) {
    auto& c = conns_[i];
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    open(i, r);
  }

  /// Gives idle connections their next request; false once the count is exhausted.
  bool assign(std::int64_t now, DriveResult& r) {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      auto& c = conns_[i];
      if (c.state == Connection::State::scheduled && c.due_ns <= now) send(i, now, r);
      if (c.state != Connection::State::idle) continue;
      if (c.fd < 0 && !open(i, r)) {
        // The server is unreachable: stop rather than spin.
        return false;
      }
      const std::uint64_t k = s_.next.fetch_add(1);
      if (s_.options.max_requests != 0 && k >= s_.options.max_requests) return false;
      c.k = k;
      c.due_ns = s_.options.rate > 0
                     ? s_.start_ns +
                           static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / s_.options.rate)
                     : now;
      c.state = Connection::State::scheduled;
      if (c.due_ns <= now) send(i, now, r);
    }
    return true;
  }

  void send(std::size_t i, std::int64_t now, DriveResult& r) {
    auto& c = conns_[i];
    c.wire = &s_.source(c.k);
    c.written = 0;
    c.sent_ns = now;
    c.state = Connection::State::busy;
    ++r.sent;
    flush(i, r);
  }

  void flush(std::size_t i, DriveResult& r) {
    auto& c = conns_[i];
    if (c.state != Connection::State::busy || c.wire == nullptr) return;
    while (c.written < c.wire->size()) {
      const ssize_t n =
          ::send(c.fd, c.wire->data() + c.written, c.wire->size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      fail(i, r, false);
      return;
    }
    const bool want = c.written < c.wire->size();
    if (want != c.want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_write = want;
    }
  }

  void receive(std::size_t i, DriveResult& r) {
    auto& c = conns_[i];
    char buf[65536];
    bool closed = false;
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      closed = true;
      break;
    }
    if (c.state == Connection::State::busy && !c.in.empty()) {
      HttpReply reply;
      std::string error;
      const std::size_t used = parse_reply(c.in, reply, error, false);
      if (!error.empty()) {
        s_.note_error(error);
        fail(i, r, false);
        return;
      }
      if (used > 0) {
        const std::int64_t done = now_ns();
        const std::int64_t from = s_.options.rate > 0 ? c.due_ns : c.sent_ns;
        r.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, done - from)));
        ++r.statuses[reply.status];
        ++r.answered;
        r.elapsed_s = static_cast<double>(done - s_.start_ns) / 1e9;
        s_.progress.completed.fetch_add(1, std::memory_order_relaxed);
        c.in.erase(0, used);
        c.state = Connection::State::idle;
        c.wire = nullptr;
        s_.sink(index_, c.k, &reply);
        if (reply.close) closed = true;
      }
    }
    if (closed) {
      if (c.state == Connection::State::busy) {
        fail(i, r, false);
      } else {
        reopen(i, r);
      }
    }
  }

  void fail(std::size_t i, DriveResult& r, bool timeout) {
    auto& c = conns_[i];
    if (c.state == Connection::State::busy) {
      ++(timeout ? r.timeouts : r.transport_errors);
      if (timeout && s_.options.rate > 0) {
        r.latency.record(
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns() - c.due_ns)));
      }
      s_.progress.failed.fetch_add(1, std::memory_order_relaxed);
      s_.sink(index_, c.k, nullptr);
      if (!timeout) s_.note_error("connection closed before the answer");
    }
    c.state = Connection::State::idle;
    c.wire = nullptr;
    reopen(i, r);
  }

  void expire_overdue(std::int64_t now, DriveResult& r) {
    const std::int64_t limit = s_.options.timeout_ms * 1'000'000ll;
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i].state == Connection::State::busy && now - conns_[i].sent_ns > limit) {
        fail(i, r, true);
      }
    }
  }

  void expire_all(DriveResult& r) {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i].state == Connection::State::busy) fail(i, r, true);
    }
  }

  Shared& s_;
  int index_;
  std::vector<Connection> conns_;
  int ep_ = -1;
};

}  // namespace

DriveResult drive(const DriveOptions& options, const RequestSource& source, const ReplySink& sink,
                  const std::atomic<bool>& stop, DriveProgress& progress) {
  Shared shared(options, source, sink, stop, progress);
  shared.start_ns = now_ns();
  if (options.duration_s > 0) {
    shared.end_ns = shared.start_ns + static_cast<std::int64_t>(options.duration_s * 1e9);
  }
  const int threads = std::max(1, std::min(options.threads, options.connections));
  std::vector<DriveResult> results(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int conns = options.connections / threads + (t < options.connections % threads ? 1 : 0);
    workers.emplace_back([&, t, conns] {
      Loop loop(shared, t, conns);
      results[static_cast<std::size_t>(t)] = loop.run();
    });
  }
  for (auto& w : workers) w.join();
  DriveResult total;
  for (auto& r : results) {
    total.latency.merge(r.latency);
    for (const auto& [status, n] : r.statuses) total.statuses[status] += n;
    total.sent += r.sent;
    total.answered += r.answered;
    total.transport_errors += r.transport_errors;
    total.timeouts += r.timeouts;
    total.unsent += r.unsent;
    total.elapsed_s = std::max(total.elapsed_s, r.elapsed_s);
  }
  if (options.rate > 0 && shared.end_ns != 0) {
    // Requests due before the end that no connection was free to claim.
    const auto due_by_end =
        static_cast<std::uint64_t>(std::ceil(options.duration_s * options.rate));
    const std::uint64_t limit =
        options.max_requests != 0 ? std::min(due_by_end, options.max_requests) : due_by_end;
    for (std::uint64_t k = shared.next.load(); k < limit; ++k) {
      const auto due =
          shared.start_ns + static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / options.rate);
      if (due >= shared.end_ns) break;
      count_unsent(total, due, shared.end_ns);
    }
  }
  total.first_error = shared.first_error;
  return total;
}

}  // namespace failcat::load
