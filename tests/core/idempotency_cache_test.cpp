#include "core/idempotency_cache.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

FailureRecord keyed(const std::string& id, const std::string& tenant, const std::string& key) {
  FailureRecord r;
  r.id = id;
  r.tenant_id = tenant;
  r.idempotency_key = key;
  return r;
}

TEST(IdempotencyCache, FirstRecordOwnsTheKeyPerTenant) {
  IdempotencyCache cache;
  EXPECT_EQ(cache.insert_if_absent(keyed("a", "t1", "k")).id, "a");
  EXPECT_EQ(cache.insert_if_absent(keyed("b", "t1", "k")).id, "a");
  EXPECT_EQ(cache.insert_if_absent(keyed("c", "t2", "k")).id, "c");
  EXPECT_EQ(cache.find("t1", "k")->id, "a");
  EXPECT_FALSE(cache.find("t1", "other").has_value());
  cache.erase("t1", "k");
  EXPECT_FALSE(cache.find("t1", "k").has_value());
}

TEST(IdempotencyCache, EvictsLeastRecentlyUsed) {
  IdempotencyCache cache(2);
  cache.insert_if_absent(keyed("a", "t", "1"));
  cache.insert_if_absent(keyed("b", "t", "2"));
  ASSERT_TRUE(cache.find("t", "1").has_value());  // 1 becomes most recent
  cache.insert_if_absent(keyed("c", "t", "3"));
  EXPECT_TRUE(cache.find("t", "1").has_value());
  EXPECT_FALSE(cache.find("t", "2").has_value());
  EXPECT_EQ(cache.size(), 2u);
}

TEST(IdempotencyCache, EraseOwnerForgetsAKeyOnlyWhileItNamesThatFailure) {
  IdempotencyCache cache(10);
  const auto first = keyed("id-1", "t", "k");
  cache.insert_if_absent(first);
  cache.erase_owner(keyed("id-2", "t", "k"));  // another failure with the key: kept
  ASSERT_TRUE(cache.find("t", "k"));
  EXPECT_EQ(cache.find("t", "k")->id, "id-1");
  cache.erase_owner(keyed("id-1", "u", "k"));  // another tenant's key: kept
  EXPECT_TRUE(cache.find("t", "k"));
  cache.erase_owner(first);
  EXPECT_FALSE(cache.find("t", "k"));
  FailureRecord unkeyed;
  unkeyed.id = "id-3";
  cache.erase_owner(unkeyed);  // nothing to forget
  EXPECT_EQ(cache.size(), 0u);
}

TEST(IdempotencyCache, UnkeyedRecordsAreNotCached) {
  IdempotencyCache cache;
  FailureRecord r;
  r.id = "x";
  EXPECT_EQ(cache.insert_if_absent(r).id, "x");
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace failcat
