// Catalog files: any text is either a catalog or a list of problems, never a crash, and a
// catalog that loads can match.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/catalog.hpp"
#include "core/matcher.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto load = failcat::parse_catalog(text);
  if (load.ok() == !load.problems.empty()) __builtin_trap();
  if (load.ok()) {
    (void)load.catalog->matcher().match("RATE_LIMITED", "429 too many requests");
    (void)load.catalog->matcher().match(text.substr(0, 64), text);
  }
  return 0;
}
