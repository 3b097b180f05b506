#include "core/thread_name.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace failcat {
namespace {

std::string current_name() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

TEST(ThreadName, NamesTheCallingThreadAndKeepsFifteenBytes) {
  std::string short_name;
  std::string long_name;
  std::thread([&] {
    name_this_thread("fc-test");
    short_name = current_name();
    // The kernel refuses names over 15 bytes outright; the prefix is kept instead.
    name_this_thread("fc-a-name-longer-than-fifteen");
    long_name = current_name();
  }).join();
  EXPECT_EQ(short_name, "fc-test");
  EXPECT_EQ(long_name, "fc-a-name-longe");
}

}  // namespace
}  // namespace failcat
