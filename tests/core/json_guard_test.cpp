#include "core/json_guard.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

std::vector<std::string> duplicates_of(const std::string& text) {
  std::vector<JsonPath> found;
  const auto doc = nlohmann::json::parse(text, DuplicateKeyTracker(&found));
  EXPECT_FALSE(doc.is_discarded());
  std::vector<std::string> out;
  for (const auto& path : found) out.push_back(to_string(path));
  return out;
}

TEST(DuplicateKeyTracker, NamesTheFullPathOfEachRepeatedKey) {
  EXPECT_TRUE(duplicates_of(R"({"a":1,"b":{"a":2}})").empty());
  EXPECT_EQ(duplicates_of(R"({"a":1,"a":2})"), std::vector<std::string>{"a"});
  EXPECT_EQ(duplicates_of(R"({"failures":[{"x":1},{"run_id":"r","run_id":"s"}]})"),
            std::vector<std::string>{"failures[1].run_id"});
  EXPECT_EQ(duplicates_of(R"({"e":[[{"k":1,"k":2}]],"z":0,"z":1})"),
            (std::vector<std::string>{"e[0][0].k", "z"}));
}

TEST(JsonNestingDepth, CountsOutsideStringsAndStopsPastTheLimit) {
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[\"[[{{"})", 64), 1u);
  EXPECT_EQ(json_nesting_depth(std::string(1000, '['), 10), 11u);
}

}  // namespace
}  // namespace failcat
