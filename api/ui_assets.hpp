#pragma once

#include <string_view>
#include <vector>

namespace failcat {

/// A file of the recovery review page (ui/), compiled into the binary.
struct UiAsset {
  std::string_view name;
  std::string_view content;
};

const std::vector<UiAsset>& ui_assets();

}  // namespace failcat
