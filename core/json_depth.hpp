#pragma once

#include <cstddef>
#include <string_view>

namespace failcat {

/// Deepest nesting of arrays and objects in `text`, counted outside string literals (escapes
/// honoured); stops counting once past `limit`, so it is cheap on hostile input. Run before
/// nlohmann-json, whose parser recurses.
std::size_t json_nesting_depth(std::string_view text, std::size_t limit);

}  // namespace failcat
