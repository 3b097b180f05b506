#pragma once
// Internal to actors/.

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <functional>
#include <string>
#include <vector>

namespace failcat {

class Metrics;

/// One supervised actor: how to (re)start it. `start` spawns it and publishes its handle
/// (in the Directory) and returns it for monitoring; `stopped` (optional) takes the handle
/// back out once it died, so that nobody sends to a dead actor until its restart.
struct ChildSpec {
  std::string name;
  std::function<caf::actor()> start;
  std::function<void()> stopped = {};
};

/// Spawns the supervisor, which starts every child, monitors it, and restarts a child that
/// dies abnormally, with exponential backoff (100 ms doubling to 5 s while restarts keep
/// coming), counting `failcat_actor_restarts_total{actor}`. An exit message to the supervisor
/// stops the children and then the supervisor.
caf::actor spawn_supervisor(caf::actor_system& system, std::vector<ChildSpec> children,
                            Metrics& metrics);

}  // namespace failcat
