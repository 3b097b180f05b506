#include "core/uuid.hpp"

#include <array>
#include <cctype>

#include "core/ascii.hpp"

namespace failcat {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

UuidV7Generator::UuidV7Generator() : rng_(std::random_device{}()) {
  // Mix a second draw in: one 32-bit random_device value is a thin seed for 64-bit state.
  rng_.seed((static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}());
}

UuidV7Generator::UuidV7Generator(std::uint64_t seed) : rng_(seed) {}

std::string UuidV7Generator::next(std::int64_t unix_ms) {
  if (unix_ms < last_ms_) unix_ms = last_ms_;  // never go backwards on clock steps
  if (unix_ms == last_ms_) {
    if (++counter_ > 0x0fff) {  // counter exhausted: borrow the next millisecond
      ++unix_ms;
      counter_ = static_cast<std::uint16_t>(rng_() & 0x01ff);
    }
  } else {
    // Start low in the counter space so many ids fit into one millisecond.
    counter_ = static_cast<std::uint16_t>(rng_() & 0x01ff);
  }
  last_ms_ = unix_ms;

  std::array<std::uint8_t, 16> b{};
  const auto ms = static_cast<std::uint64_t>(unix_ms);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<std::uint8_t>(0x70 | ((counter_ >> 8) & 0x0f));
  b[7] = static_cast<std::uint8_t>(counter_ & 0xff);
  const std::uint64_t r = rng_();
  for (int i = 8; i < 16; ++i) b[i] = static_cast<std::uint8_t>(r >> (8 * (i - 8)));
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant

  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
    if (dash ? text[i] != '-' : hex_value(text[i]) < 0) return false;
  }
  return true;
}

std::optional<std::string> canonical_uuid(std::string_view text) {
  if (!is_uuid(text)) return std::nullopt;
  return ascii_lower(text);
}

std::optional<std::int64_t> uuid_v7_millis(std::string_view uuid) {
  if (!is_uuid(uuid) || uuid[14] != '7') return std::nullopt;
  std::int64_t ms = 0;
  for (std::size_t i = 0; i < 13; ++i) {
    if (i == 8) continue;
    ms = (ms << 4) | hex_value(uuid[i]);
  }
  return ms;
}

}  // namespace failcat
