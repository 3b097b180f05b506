#include "load/arguments.hpp"

#include <csignal>
#include <cstdlib>

namespace failcat::load {

std::atomic<bool> g_stop_requested{false};

namespace {
extern "C" void on_stop_signal(int) {
  g_stop_requested.store(true);
}
}  // namespace

void install_stop_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

Arguments::Arguments(const std::vector<std::string>& args, std::set<std::string> switches,
                     std::set<std::string> valued) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (switches.count(name) != 0) {
      if (value) throw UsageError("--" + name + " takes no value");
      present_.insert(name);
    } else if (valued.count(name) != 0) {
      if (!value) {
        if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value");
        value = args[++i];
      }
      values_[name] = *value;
      present_.insert(name);
    } else {
      throw UsageError("unknown flag --" + name);
    }
  }
}

bool Arguments::has(const std::string& name) const {
  return present_.count(name) != 0;
}

std::string Arguments::text(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::int64_t Arguments::integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < min || v > max) {
    throw UsageError("--" + name + " must be an integer from " + std::to_string(min) + " to " +
                     std::to_string(max));
  }
  return v;
}

double Arguments::number(const std::string& name, double fallback, double min, double max) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !(v >= min && v <= max)) {
    throw UsageError("--" + name + " must be a number from " + std::to_string(min) + " to " +
                     std::to_string(max));
  }
  return v;
}

double Arguments::seconds(const std::string& name, double fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  const std::string unit = end ? end : "";
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "ms") scale = 1e-3;
  if (unit == "m") scale = 60;
  if (it->second.empty() || scale == 0 || !(v >= 0) || v * scale > 24 * 3600) {
    throw UsageError("--" + name + " must be a duration such as 30s, 500ms or 2m");
  }
  return v * scale;
}

}  // namespace failcat::load
