// Every request body the API parses: ingest (one and batch), recovery patch, bulk recovery and
// breaker actions. The parsers must answer a value or an error naming a field, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/request_parsing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  constexpr failcat::Micros kNow = 1'767'225'600'000'000;
  // A rejected body always says what was wrong.
  if (auto one = failcat::parse_failure_body(body); !one && one.error().message.empty()) {
    __builtin_trap();
  }
  (void)failcat::parse_failure_batch(body);
  (void)failcat::parse_recovery_patch(body);
  (void)failcat::parse_bulk_recovery(body, kNow);
  (void)failcat::parse_breaker_action(body);
  return 0;
}
