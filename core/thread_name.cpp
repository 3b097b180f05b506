#include "core/thread_name.hpp"

#include <pthread.h>

#include <cstring>

namespace failcat {

void name_this_thread(const char* name) {
  char truncated[16];
  std::strncpy(truncated, name, sizeof truncated - 1);
  truncated[sizeof truncated - 1] = '\0';
  (void)pthread_setname_np(pthread_self(), truncated);
}

}  // namespace failcat
