// The matcher against the shipped catalog: input is `error_code\nerror_message`. Any bytes
// (invalid UTF-8, huge tokens, hostile patterns' worst cases) give a well-formed answer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/catalog.hpp"
#include "core/matcher.hpp"

namespace {

const failcat::Catalog& shipped_catalog() {
  static const auto load = failcat::load_catalog_file(FAILCAT_CATALOG_PATH);
  if (!load.ok()) __builtin_trap();
  return *load.catalog;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto newline = text.find('\n');
  const auto code = text.substr(0, newline);
  const auto message =
      newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  const auto result = shipped_catalog().matcher().match(code, message);
  const bool miss = result.type == failcat::MatchType::miss;
  if (miss != (result.entry == nullptr)) __builtin_trap();
  if (result.confidence < 0.0 || result.confidence > 1.0) __builtin_trap();
  if (miss && (result.confidence != 0.0 || !result.matched_on.empty())) __builtin_trap();
  return 0;
}
