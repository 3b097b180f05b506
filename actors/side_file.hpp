#pragma once
// Internal to actors/.

#include <string>

#include "core/result.hpp"

namespace failcat {

/// Appends `lines` (whole NDJSON lines) to `dir/file` and makes them durable (fdatasync, and
/// the directory's fsync when the file is new) before returning ok. A write cut short is cut
/// back off, so the file never holds half a line. Serialised within the process.
Status append_durably(const std::string& dir, const char* file, const std::string& lines);

/// Replaces `dir/file` with `content` atomically and durably: written to `file.tmp`, fsynced,
/// renamed over the file, and the directory fsynced; any step that fails is an error (the
/// old file, if any, stays whole).
Status replace_durably(const std::string& dir, const std::string& file, const std::string& content);

}  // namespace failcat
