#pragma once

namespace failcat {

/// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it (at most 15 bytes are
/// kept). Detached actors call it from their behavior, which runs on their own thread, so an
/// operator can tell the persister from the WAL syncer or a storage connection.
void name_this_thread(const char* name);

}  // namespace failcat
