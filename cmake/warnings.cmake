# Strict warnings and sanitizers apply to our own targets only (linked PRIVATE).
add_library(failcat_warnings INTERFACE)
target_compile_options(failcat_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror -Wnon-virtual-dtor -Woverloaded-virtual)

if(FAILCAT_SANITIZE)
  string(REPLACE ";" "," _failcat_san "${FAILCAT_SANITIZE}")
  target_compile_options(failcat_warnings INTERFACE -fsanitize=${_failcat_san} -fno-omit-frame-pointer)
  target_link_options(failcat_warnings INTERFACE -fsanitize=${_failcat_san})
endif()

# Declares one library per top-level folder with the project's flags.
function(failcat_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC} PRIVATE failcat_warnings ${ARG_PRIVATE})
endfunction()
