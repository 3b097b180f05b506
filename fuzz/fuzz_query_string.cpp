// Query strings: split and percent-decoded the way the HTTP layer does, then parsed by every
// query parser and the keyset cursor decoder.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/query_parsing.hpp"

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Mirrors the server: a malformed escape becomes a marker the parsers must reject.
std::string decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      if (i + 2 >= text.size() || hex_digit(text[i + 1]) < 0 || hex_digit(text[i + 2]) < 0) {
        return "\x01invalid";
      }
      out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  failcat::Query query;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('&', start);
    if (end == std::string_view::npos) end = text.size();
    const auto pair = text.substr(start, end - start);
    const auto eq = pair.find('=');
    query.emplace_back(decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1)));
    start = end + 1;
  }
  constexpr failcat::Micros kNow = 1'767'225'600'000'000;
  if (auto list = failcat::parse_list_params(query, kNow)) {
    if (list->limit < 1 || list->limit > 1000 || list->offset < 0) __builtin_trap();
    if (list->after) {
      const auto again = failcat::decode_cursor(failcat::encode_cursor(*list->after));
      if (!again || again->id != list->after->id) __builtin_trap();
    }
  }
  (void)failcat::parse_unrecovered_params(query, kNow);
  (void)failcat::parse_stats_params(query, kNow);
  (void)failcat::parse_aggregate_params(query, kNow);
  (void)failcat::require_no_params(query);
  (void)failcat::decode_cursor(text);
  return 0;
}
