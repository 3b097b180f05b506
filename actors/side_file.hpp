#pragma once
// Internal to actors/.

#include <string>

#include "core/result.hpp"

namespace failcat {

/// Appends `lines` (whole NDJSON lines) to `dir/file` and makes them durable (fdatasync, and
/// the directory's fsync when the file is new) before returning ok. A write cut short is cut
/// back off, so the file never holds half a line. Serialised within the process.
Status append_durably(const std::string& dir, const char* file, const std::string& lines);

}  // namespace failcat
