#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace failcat {

/// The tenant a failure belongs to when neither the request nor the key names one.
inline constexpr std::string_view kDefaultTenant = "00000000-0000-0000-0000-000000000000";

/// Generates RFC 9562 UUIDv7 strings: 48-bit Unix milliseconds, then random bits, so ids
/// sort by creation time. Within one millisecond a generator's ids still increase
/// (the 12-bit `rand_a` field is a counter), which keeps keyset paging stable.
/// Not thread-safe: give each thread or actor its own.
class UuidV7Generator {
 public:
  UuidV7Generator();
  explicit UuidV7Generator(std::uint64_t seed);

  std::string next(std::int64_t unix_ms);

 private:
  std::mt19937_64 rng_;
  std::int64_t last_ms_ = -1;
  std::uint16_t counter_ = 0;
};

/// True when `text` is a UUID in canonical 8-4-4-4-12 hex form (either case).
bool is_uuid(std::string_view text);

/// The lower-case canonical form of a UUID, or nullopt when `text` is not one.
std::optional<std::string> canonical_uuid(std::string_view text);

/// Milliseconds since the Unix epoch encoded in a UUIDv7 (nullopt for other versions).
std::optional<std::int64_t> uuid_v7_millis(std::string_view uuid);

}  // namespace failcat
