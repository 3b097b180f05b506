#include "core/miss_rate_alert.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace failcat {

namespace {

/// Slack's control characters (`<!channel>`, `<url|label>`) as its documented escapes.
std::string slack_escaped(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> MissRateAlert::evaluate(const FailureStats& stats, int window_hours,
                                                   Micros now) const {
  if (stats.total < config_.min_failures || stats.total <= 0) return std::nullopt;
  const double rate = static_cast<double>(stats.missed) / static_cast<double>(stats.total);
  if (rate < config_.threshold) return std::nullopt;
  if (last_fired_ && now - *last_fired_ < config_.cooldown) return std::nullopt;
  if (retry_at_ && now < *retry_at_) return std::nullopt;

  char percent[16];
  std::snprintf(percent, sizeof percent, "%.1f%%", rate * 100.0);
  std::string text = std::string("failcat: ") + percent + " of failures in the last " +
                     std::to_string(window_hours) + "h matched no catalog entry (" +
                     std::to_string(stats.missed) + " of " + std::to_string(stats.total) + ").";
  if (!stats.top_unmatched.empty()) {
    text += " Top unmatched:";
    for (std::size_t i = 0; i < stats.top_unmatched.size() && i < 3; ++i) {
      const auto& u = stats.top_unmatched[i];
      text += "\n• " + slack_escaped(u.error_code) + " — " + slack_escaped(u.signature) + " (" +
              std::to_string(u.count) + ")";
    }
  }
  nlohmann::json body = {{"text", text}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void MissRateAlert::not_delivered(Micros now) {
  constexpr Micros kFirstRetry = 60 * kMicrosPerSecond;
  Micros wait = kFirstRetry;
  for (int i = 0; i < failed_deliveries_ && wait < config_.cooldown; ++i) wait *= 2;
  retry_at_ = now + std::min(wait, std::max(config_.cooldown, kFirstRetry));
  ++failed_deliveries_;
}

}  // namespace failcat
