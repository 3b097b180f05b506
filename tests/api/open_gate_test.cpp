#include "api/open_gate.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

HttpRequest request(const std::string& method, Access access,
                    std::map<std::string, std::string> headers) {
  HttpRequest r;
  r.method = method;
  r.route = "/api/v1/failures";
  r.access = access;
  r.request_id = "req-1";
  r.headers = std::move(headers);
  return r;
}

std::optional<int> refused(const RequestGate& gate, const std::string& method,
                           std::map<std::string, std::string> headers,
                           Access access = Access::read) {
  auto r = request(method, access, std::move(headers));
  auto answer = gate(r);
  if (!answer) return std::nullopt;
  return answer->status;
}

TEST(OpenGate, OnLoopbackOnlyLoopbackNamesAndAddressesReachTheApi) {
  const auto gate = make_open_gate({{}, true});
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "LOCALHOST", "localhost.:80",
                           "app.localhost:8080", "[::1]:8080", "10.0.0.7", "[fe80::1]"}) {
    EXPECT_EQ(refused(gate, "GET", {{"host", host}}), std::nullopt) << host;
  }
  // A rebinding page's requests carry its own name.
  for (const char* host : {"evil.example:8080", "evil.example", "localhost.evil.example",
                           "127.0.0.1.evil.example", "", ":8080", "[::1"}) {
    EXPECT_EQ(refused(gate, "GET", {{"host", host}}), 403) << host;
  }
  auto r = request("GET", Access::read, {{"host", "evil.example"}});
  const auto answer = gate(r);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->content_type, "application/problem+json");
  EXPECT_NE(answer->body.find("\"Host\""), std::string::npos) << answer->body;
  // No Host (HTTP/1.0 clients) and the open routes pass.
  EXPECT_EQ(refused(gate, "GET", {}), std::nullopt);
  EXPECT_EQ(refused(gate, "GET", {{"host", "evil.example"}}, Access::open), std::nullopt);
}

TEST(OpenGate, AllowedNamesAreAcceptedAndANetworkServerTakesAnyName) {
  const auto proxied = make_open_gate({{"failcat.corp", "ops.example"}, true});
  EXPECT_EQ(refused(proxied, "GET", {{"host", "FailCat.corp:443"}}), std::nullopt);
  EXPECT_EQ(refused(proxied, "GET", {{"host", "ops.example"}}), std::nullopt);
  EXPECT_EQ(refused(proxied, "GET", {{"host", "evil.example"}}), 403);
  EXPECT_EQ(refused(make_open_gate({{"*"}, true}), "GET", {{"host", "anything.example"}}),
            std::nullopt);
  EXPECT_EQ(refused(make_open_gate({{}, false}), "GET", {{"host", "failcat.internal"}}),
            std::nullopt);
}

TEST(OpenGate, ChangesFromAnotherSitesPagesAreRefused) {
  const auto gate = make_open_gate({{}, true});
  const std::string host = "127.0.0.1:8080";
  for (const char* method : {"POST", "PATCH", "PUT", "DELETE"}) {
    EXPECT_EQ(refused(gate, method, {{"host", host}, {"sec-fetch-site", "cross-site"}}), 403);
    EXPECT_EQ(refused(gate, method, {{"host", host}, {"sec-fetch-site", "same-site"}}), 403);
    EXPECT_EQ(refused(gate, method, {{"host", host}, {"sec-fetch-site", "same-origin"}}),
              std::nullopt);
    EXPECT_EQ(refused(gate, method, {{"host", host}, {"sec-fetch-site", "none"}}), std::nullopt);
    // Browsers without Sec-Fetch-Site: the Origin must be where the request went.
    EXPECT_EQ(refused(gate, method, {{"host", host}, {"origin", "https://evil.example"}}), 403);
    EXPECT_EQ(refused(gate, method, {{"host", host}, {"origin", "null"}}), 403);
    EXPECT_EQ(refused(gate, method, {{"host", host}, {"origin", "http://127.0.0.1:8080"}}),
              std::nullopt);
    // curl, SDKs, agents: neither header.
    EXPECT_EQ(refused(gate, method, {{"host", host}}), std::nullopt);
  }
  // Reads are not changes (a page cannot read the answer of a cross-site request).
  EXPECT_EQ(refused(gate, "GET", {{"host", host}, {"sec-fetch-site", "cross-site"}}), std::nullopt);
  auto r = request("POST", Access::ingest, {{"host", host}, {"sec-fetch-site", "cross-site"}});
  const auto answer = gate(r);
  ASSERT_TRUE(answer.has_value());
  EXPECT_NE(answer->body.find("\"Origin\""), std::string::npos) << answer->body;
}

}  // namespace
}  // namespace failcat
