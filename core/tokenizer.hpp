#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace failcat {

/// Only this many leading bytes of a message are tokenised: all of a message the API accepts
/// (10,000 characters of at most 4 UTF-8 bytes), and bounded time on longer input.
inline constexpr std::size_t kMaxTokenizedBytes = 40'000;
/// At most this many tokens are produced: a 10,000-character message has at most 5,000.
inline constexpr std::size_t kMaxTokens = 5'000;

/// Normalised word tokens of an error message, shared by fuzzy matching and the grouping of
/// unmatched messages into signatures: ASCII lower-cased; split on whitespace and punctuation
/// (bytes >= 0x80 count as word characters, so invalid UTF-8 is harmless); UUIDs become
/// `<uuid>`, hex strings (>= 6 hex digits mixing digits and letters, or `0x…`) `<hex>`, and
/// every run of decimal digits `<num>`, so "timeout after 3000ms" and "timeout after 5000ms"
/// give the same tokens. Each part of a word between underscores is masked on its own
/// (`req_4f1c2d9e8a7b` → `req_<hex>`, `run_<uuid>`).
std::vector<std::string> tokenize_message(std::string_view message);

/// A stable grouping key for a message: its tokens joined by single spaces, at most 200 bytes;
/// a token over 64 bytes counts as `<long>`.
std::string message_signature(std::string_view message);

}  // namespace failcat
