#include "core/in_order_release.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace failcat {
namespace {

struct Group {
  std::string name;
};

class InOrderReleaseTest : public ::testing::Test {
 protected:
  std::shared_ptr<Group> start(const std::string& name) {
    auto g = std::make_shared<Group>(Group{name});
    order_.start(g);
    return g;
  }

  std::vector<std::string> released_;
  InOrderRelease<Group> order_{[this](Group& g) { released_.push_back(g.name); }};
};

TEST_F(InOrderReleaseTest, ALaterItemWaitsForTheOnesBeforeIt) {
  auto a = start("a");
  auto b = start("b");
  auto c = start("c");
  order_.finish(b.get(), true);
  EXPECT_TRUE(released_.empty());
  order_.finish(a.get(), true);
  EXPECT_EQ(released_, (std::vector<std::string>{"a", "b"}));
  order_.finish(c.get(), true);
  EXPECT_EQ(released_, (std::vector<std::string>{"a", "b", "c"}));
  order_.finish(c.get(), true);  // once only
  EXPECT_EQ(released_.size(), 3u);
}

TEST_F(InOrderReleaseTest, AFailedItemReleasesNothingAfterIt) {
  auto a = start("a");
  auto b = start("b");
  order_.finish(b.get(), true);
  order_.finish(a.get(), false);
  EXPECT_TRUE(released_.empty());
  EXPECT_TRUE(order_.failed());
  auto c = start("c");
  order_.finish(c.get(), true);
  EXPECT_TRUE(released_.empty());
}

TEST_F(InOrderReleaseTest, FailStopsItemsStillOutstanding) {
  auto a = start("a");
  auto b = start("b");
  order_.finish(a.get(), true);
  EXPECT_EQ(released_, (std::vector<std::string>{"a"}));
  order_.fail();
  order_.finish(b.get(), true);
  EXPECT_EQ(released_, (std::vector<std::string>{"a"}));
}

TEST_F(InOrderReleaseTest, ItemsFinishedOnTwoThreadsAreReleasedInStartOrder) {
  constexpr int kRounds = 500;
  for (int round = 0; round < kRounds; ++round) {
    auto first = start(std::to_string(2 * round));
    auto second = start(std::to_string(2 * round + 1));
    std::thread t1([&] { order_.finish(first.get(), true); });
    std::thread t2([&] { order_.finish(second.get(), true); });
    t1.join();
    t2.join();
  }
  ASSERT_EQ(released_.size(), 2u * kRounds);
  for (int i = 0; i < 2 * kRounds; ++i) EXPECT_EQ(released_[i], std::to_string(i));
}

}  // namespace
}  // namespace failcat
