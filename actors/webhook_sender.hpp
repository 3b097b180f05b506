#pragma once

#include <string>

#include "core/result.hpp"
#include "core/timestamp.hpp"

namespace failcat {

/// `sha256=<hex>` of HMAC-SHA256(secret, "<unix seconds>.<body>"): what a receiver recomputes
/// to trust a webhook (the timestamp in the signed text stops replays of old deliveries).
std::string webhook_signature(const std::string& secret, const std::string& unix_seconds,
                              const std::string& body);

/// Posts JSON alerts to a Slack-compatible incoming webhook. Blocking: use from a detached
/// actor. Headers: `X-Failcat-Timestamp`, and `X-Failcat-Signature` when a secret is set.
class WebhookSender {
 public:
  WebhookSender(std::string url, std::string secret, long timeout_ms = 5000);

  /// Delivers `body`; any non-2xx answer or transport failure is an error value.
  Status send(const std::string& body, Micros now) const;

 private:
  std::string url_;
  std::string secret_;
  long timeout_ms_;
};

}  // namespace failcat
