#include "core/batch_policy.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

TEST(BatchPolicy, NothingPendingNeverFlushes) {
  ManualClock clock;
  BatchPolicy policy(clock);
  EXPECT_FALSE(policy.should_flush());
  EXPECT_EQ(policy.next_deadline(), std::nullopt);
  clock.advance(kMicrosPerSecond);
  EXPECT_FALSE(policy.should_flush());
}

TEST(BatchPolicy, FlushesWhenRowsReachTheLimit) {
  ManualClock clock;
  BatchPolicy policy(clock, BatchPolicyConfig{3, 1'000'000, 5'000});
  policy.on_add(10);
  policy.on_add(10);
  EXPECT_FALSE(policy.should_flush());
  policy.on_add(10);
  EXPECT_TRUE(policy.should_flush());
  EXPECT_EQ(policy.pending_rows(), 3u);
  EXPECT_EQ(policy.pending_bytes(), 30u);
}

TEST(BatchPolicy, FlushesWhenBytesReachTheLimit) {
  ManualClock clock;
  BatchPolicy policy(clock, BatchPolicyConfig{500, 1'000, 5'000});
  policy.on_add(999);
  EXPECT_FALSE(policy.should_flush());
  policy.on_add(1);
  EXPECT_TRUE(policy.should_flush());
}

TEST(BatchPolicy, FlushesWhenTheOldestRowReachesMaxAge) {
  ManualClock clock;
  BatchPolicy policy(clock, BatchPolicyConfig{500, 1'000'000, 5'000});
  const Micros first = clock.steady();
  policy.on_add(10);
  clock.advance(3'000);
  policy.on_add(10);  // a later row does not move the deadline
  EXPECT_EQ(policy.next_deadline(), first + 5'000);
  EXPECT_FALSE(policy.should_flush());
  EXPECT_FALSE(policy.should_flush(first + 4'999));
  EXPECT_TRUE(policy.should_flush(first + 5'000));
  clock.advance(2'000);
  EXPECT_TRUE(policy.should_flush());
}

TEST(BatchPolicy, FullFlushResets) {
  ManualClock clock;
  BatchPolicy policy(clock, BatchPolicyConfig{2, 1'000'000, 5'000});
  policy.on_add(2, 20);
  ASSERT_TRUE(policy.should_flush());
  policy.on_flush();
  EXPECT_TRUE(policy.empty());
  EXPECT_EQ(policy.pending_bytes(), 0u);
  EXPECT_EQ(policy.next_deadline(), std::nullopt);
  clock.advance(10'000);
  policy.on_add(5);
  EXPECT_EQ(policy.next_deadline(), clock.steady() + 5'000);
  EXPECT_FALSE(policy.should_flush());
}

TEST(BatchPolicy, PartialFlushKeepsTheOldDeadline) {
  ManualClock clock;
  BatchPolicy policy(clock, BatchPolicyConfig{500, 1'000'000, 5'000});
  const Micros first = clock.steady();
  policy.on_add(800, 8'000);
  ASSERT_TRUE(policy.should_flush());
  policy.on_flush(500, 5'000);
  EXPECT_EQ(policy.pending_rows(), 300u);
  EXPECT_EQ(policy.pending_bytes(), 3'000u);
  EXPECT_EQ(policy.next_deadline(), first + 5'000);
  policy.on_flush(400, 9'999);
  EXPECT_TRUE(policy.empty());
}

TEST(BatchPolicy, AddingZeroRowsChangesNothing) {
  ManualClock clock;
  BatchPolicy policy(clock);
  policy.on_add(0, 100);
  EXPECT_TRUE(policy.empty());
  EXPECT_EQ(policy.next_deadline(), std::nullopt);
}

}  // namespace
}  // namespace failcat
