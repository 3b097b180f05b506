#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace failcat::load {

/// A usage error: the message names the flag.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// `--name value`, `--name=value` and boolean `--name` flags of one subcommand. Unknown flags
/// and values that do not parse throw UsageError naming the flag.
class Arguments {
 public:
  /// `switches` are the boolean flags; `valued` the flags that take a value.
  Arguments(const std::vector<std::string>& args, std::set<std::string> switches,
            std::set<std::string> valued);

  bool has(const std::string& name) const;
  std::string text(const std::string& name, const std::string& fallback) const;
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) const;
  double number(const std::string& name, double fallback, double min, double max) const;
  /// Durations: `30`, `30s`, `500ms`, `2m`. In seconds.
  double seconds(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> present_;
  std::vector<std::string> positional_;
};

/// Set by SIGINT/SIGTERM once `install_stop_handler` ran: loops stop issuing, then report.
extern std::atomic<bool> g_stop_requested;
void install_stop_handler();

}  // namespace failcat::load
