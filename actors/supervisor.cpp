#include "actors/supervisor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <chrono>
#include <map>

#include "actors/actor_types.hpp"
#include "config/logging.hpp"
#include "metrics/metrics.hpp"

namespace failcat {
namespace {

constexpr auto kMinBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
constexpr auto kCalmAfter = std::chrono::seconds(60);

struct Child {
  ChildSpec spec;
  caf::actor handle;
  int recent_restarts = 0;
  std::chrono::steady_clock::time_point last_restart{};
};

struct SupervisorState {
  std::vector<Child> children;
  std::map<caf::actor_addr, std::size_t> by_address;
  bool stopping = false;
  static inline const char* name = "failcat.supervisor";
};

using Self = caf::stateful_actor<SupervisorState>*;

void start_child(Self self, std::size_t index) {
  auto& child = self->state.children[index];
  try {
    child.handle = child.spec.start();
  } catch (const std::exception& e) {
    log_event(LogLevel::error, "actor failed to start",
              {{"actor", child.spec.name}, {"error", e.what()}});
  }
  if (!child.handle) {
    self->delayed_send(self, kMaxBackoff, restart_atom::value, static_cast<std::uint64_t>(index));
    return;
  }
  self->monitor(child.handle);
  self->state.by_address[child.handle.address()] = index;
}

caf::behavior supervisor_behavior(Self self, std::vector<ChildSpec> specs, Metrics* metrics) {
  for (auto& spec : specs) self->state.children.push_back(Child{std::move(spec), {}, 0, {}});
  for (std::size_t i = 0; i < self->state.children.size(); ++i) start_child(self, i);

  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    const auto it = st.by_address.find(down.source);
    if (it == st.by_address.end()) return;
    const std::size_t index = it->second;
    st.by_address.erase(it);
    auto& child = st.children[index];
    child.handle = nullptr;
    if (child.spec.stopped) child.spec.stopped();
    if (st.stopping) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - child.last_restart > kCalmAfter) child.recent_restarts = 0;
    auto backoff = kMinBackoff * (1 << std::min(child.recent_restarts, 6));
    if (backoff > kMaxBackoff) backoff = kMaxBackoff;
    ++child.recent_restarts;
    child.last_restart = now;
    metrics->actor_restarted(child.spec.name);
    log_event(LogLevel::error, "actor died; restarting",
              {{"actor", child.spec.name},
               {"reason", self->system().render(down.reason)},
               {"backoff_ms", std::to_string(backoff.count())}});
    self->delayed_send(self, backoff, restart_atom::value, static_cast<std::uint64_t>(index));
  });

  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    st.stopping = true;
    for (auto& child : st.children) {
      if (child.handle) self->send_exit(child.handle, caf::exit_reason::user_shutdown);
    }
    self->quit(msg.reason);
  });

  return {
      [=](restart_atom, std::uint64_t index) {
        if (self->state.stopping || index >= self->state.children.size()) return;
        if (self->state.children[index].handle) return;
        start_child(self, index);
      },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& system, std::vector<ChildSpec> children,
                            Metrics& metrics) {
  return system.spawn(supervisor_behavior, std::move(children), &metrics);
}

}  // namespace failcat
