#include "core/unmatched_signatures.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

TEST(GroupUnmatched, MergesVariantsAndKeepsDominantCodeAndSample) {
  const auto groups = group_unmatched({{"E_TIMEOUT", "timeout after 3000ms", 2},
                                       {"E_TIMEOUT", "timeout after 5000ms", 5},
                                       {"E_OTHER", "timeout after 9ms", 1},
                                       {"DISK", "disk full", 4}},
                                      10);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].signature, "timeout after <num>ms");
  EXPECT_EQ(groups[0].count, 8);
  EXPECT_EQ(groups[0].error_code, "E_TIMEOUT");
  EXPECT_EQ(groups[0].sample_message, "timeout after 5000ms");
  EXPECT_EQ(groups[1].signature, "disk full");
}

TEST(GroupUnmatched, SamplesTheMostFrequentMessageNotTheLargestGroup) {
  // A store's groups of variants: 3 failures whose commonest message occurs once, and 2 of
  // one message. The sample is that message; equal counts take the smaller by bytes.
  auto groups = group_unmatched(
      {{"X", "retry 1 failed", 3, 1}, {"X", "Retry 1 failed", 2, 2}, {"Y", "RETRY 7 failed", 1}},
      10);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].count, 6);
  EXPECT_EQ(groups[0].sample_message, "Retry 1 failed");
  groups = group_unmatched({{"X", "retry 2 failed", 1}, {"X", "Retry 3 failed", 1}}, 10);
  EXPECT_EQ(groups[0].sample_message, "Retry 3 failed");
}

TEST(GroupUnmatched, LimitsToTopNWithStableTies) {
  const auto groups = group_unmatched({{"A", "beta", 1}, {"B", "alpha", 1}, {"C", "gamma", 1}}, 2);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].signature, "alpha");
  EXPECT_EQ(groups[1].signature, "beta");
  EXPECT_TRUE(group_unmatched({}, 5).empty());
}

}  // namespace
}  // namespace failcat
