#include "actors/webhook_sender.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <mutex>

namespace failcat {
namespace {

std::once_flag curl_init;

std::size_t discard(char*, std::size_t size, std::size_t n, void*) {
  return size * n;
}

}  // namespace

std::string webhook_signature(const std::string& secret, const std::string& unix_seconds,
                              const std::string& body) {
  const std::string signed_text = unix_seconds + "." + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest,
       &length);
  std::string hex = "sha256=";
  char buf[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

WebhookSender::WebhookSender(std::string url, std::string secret, long timeout_ms)
    : url_(std::move(url)), secret_(std::move(secret)), timeout_ms_(timeout_ms) {
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Status WebhookSender::send(const std::string& body, Micros now) const {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Error::unavailable("webhook: cannot create a client");
  const std::string seconds = std::to_string(now / kMicrosPerSecond);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("X-Failcat-Timestamp: " + seconds).c_str());
  if (!secret_.empty()) {
    headers = curl_slist_append(
        headers, ("X-Failcat-Signature: " + webhook_signature(secret_, seconds, body)).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return Error::unavailable(std::string("webhook: ") + curl_easy_strerror(rc));
  if (status < 200 || status >= 300) {
    return Error::unavailable("webhook: answered HTTP " + std::to_string(status));
  }
  return ok_status();
}

}  // namespace failcat
