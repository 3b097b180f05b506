#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace failcat {

/// Microseconds since the Unix epoch, UTC. The one time representation inside failcat.
using Micros = std::int64_t;

inline constexpr Micros kMicrosPerSecond = 1'000'000;
inline constexpr Micros kMicrosPerHour = 3'600 * kMicrosPerSecond;

/// RFC 3339 UTC with microseconds: `2026-11-30T06:27:43.123456Z` (fixed width, so the text
/// sorts like the instant it names).
std::string format_rfc3339(Micros t);

/// Parses RFC 3339 (`Z` or `±hh:mm` offset, optional fraction up to 9 digits, `T` or space)
/// and PostgreSQL's `timestamptz` text output (`2026-11-30 06:27:43.123+00`).
std::optional<Micros> parse_rfc3339(std::string_view text);

/// The start of the UTC hour containing `t`.
inline Micros floor_hour(Micros t) {
  Micros h = t / kMicrosPerHour;
  if (t < 0 && t % kMicrosPerHour != 0) --h;
  return h * kMicrosPerHour;
}

}  // namespace failcat
