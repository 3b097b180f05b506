# Generates a C++ source holding the files of ui/ as string literals.
# Inputs: UI_DIR, OUTPUT.
set(_body "")
foreach(_name index.html app.js app.css)
  file(READ ${UI_DIR}/${_name} _text)
  string(APPEND _body "    {\"${_name}\", R\"failcat_ui(${_text})failcat_ui\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "// Generated from ui/ by embed_ui.cmake.
#include \"api/ui_assets.hpp\"

namespace failcat {

const std::vector<UiAsset>& ui_assets() {
  static const std::vector<UiAsset> kAssets = {
${_body}  };
  return kAssets;
}

}  // namespace failcat
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
