// The HTTP layer's pure helpers: which bodies count as JSON, request ids, query decoding.
#include <gtest/gtest.h>

#include "api/http_server.hpp"

namespace failcat {
namespace {

TEST(JsonMediaType, JsonAndJsonSuffixedTypesInAnyCaseWithParameters) {
  for (const char* type :
       {"application/json", "Application/JSON", "application/json; charset=utf-8",
        "application/json;charset=UTF-8", "application/json; charset=\"utf-8\"",
        "application/merge-patch+json", "application/problem+json", " application/json ",
        "application/json; foo=bar"}) {
    EXPECT_TRUE(is_json_media_type(type)) << type;
  }
}

TEST(JsonMediaType, WhatABrowserSendsCrossSiteOrAnotherCharsetIsNot) {
  for (const char* type :
       {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/json; charset=latin1", "application/jsonp", "application/+jsonx", "text/json",
        "json", "", "application/", "application/+json"}) {
    EXPECT_FALSE(is_json_media_type(type)) << type;
  }
}

TEST(RequestId, ASaneCallerIdIsKeptAnythingElseReplaced) {
  EXPECT_EQ(choose_request_id(std::string("req-1.a:b_c")), "req-1.a:b_c");
  const auto fresh = choose_request_id(std::string("has space"));
  EXPECT_EQ(fresh.size(), 32u);
  EXPECT_NE(fresh, choose_request_id(std::nullopt));
  EXPECT_EQ(choose_request_id(std::string(129, 'a')).size(), 32u);
}

TEST(PercentDecode, DecodesEscapesAndPlusAndRefusesBrokenEscapes) {
  EXPECT_EQ(percent_decode("a%20b+c%2B"), "a b c+");
  EXPECT_EQ(percent_decode("%e2%82%AC"), "\xe2\x82\xac");
  EXPECT_EQ(percent_decode("%2"), std::nullopt);
  EXPECT_EQ(percent_decode("%zz"), std::nullopt);
}

}  // namespace
}  // namespace failcat
