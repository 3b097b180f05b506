#include "core/uuid.hpp"

#include <gtest/gtest.h>

#include <set>

namespace failcat {
namespace {

TEST(UuidV7, HasVersionVariantAndCanonicalShape) {
  UuidV7Generator gen(42);
  const auto id = gen.next(1'767'225'600'000);
  EXPECT_TRUE(is_uuid(id));
  EXPECT_EQ(id[14], '7');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_EQ(uuid_v7_millis(id), 1'767'225'600'000);
}

TEST(UuidV7, IdsIncreaseWithinAndAcrossMilliseconds) {
  UuidV7Generator gen(7);
  std::string prev;
  std::set<std::string> seen;
  for (int i = 0; i < 20'000; ++i) {
    const auto id = gen.next(1'000 + i / 5'000);  // 5,000 ids per millisecond
    EXPECT_GT(id, prev);
    EXPECT_TRUE(seen.insert(id).second);
    prev = id;
  }
}

TEST(UuidV7, ClockGoingBackwardsStillIncreases) {
  UuidV7Generator gen(1);
  const auto a = gen.next(5'000);
  const auto b = gen.next(4'000);
  EXPECT_GT(b, a);
}

TEST(Uuid, ValidatesAndCanonicalises) {
  EXPECT_TRUE(is_uuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_FALSE(is_uuid("00000000-0000-0000-0000-00000000000"));
  EXPECT_FALSE(is_uuid("00000000x0000-0000-0000-000000000000"));
  EXPECT_FALSE(is_uuid("g0000000-0000-0000-0000-000000000000"));
  EXPECT_EQ(canonical_uuid("ABCDEF01-2345-6789-ABCD-EF0123456789"),
            "abcdef01-2345-6789-abcd-ef0123456789");
  EXPECT_EQ(canonical_uuid("not-a-uuid"), std::nullopt);
  EXPECT_EQ(uuid_v7_millis("abcdef01-2345-4789-abcd-ef0123456789"), std::nullopt);
}

}  // namespace
}  // namespace failcat
