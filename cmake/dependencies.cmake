# Every dependency comes from Debian 12 packages (see scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)
pkg_check_modules(PISTACHE REQUIRED IMPORTED_TARGET libpistache)

# CAF 0.17 ships no CMake config.
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
add_library(caf::core UNKNOWN IMPORTED)
set_target_properties(caf::core PROPERTIES IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
  INTERFACE_LINK_LIBRARIES Threads::Threads)

find_library(RE2_LIBRARY re2 REQUIRED)
add_library(re2::re2 UNKNOWN IMPORTED)
set_target_properties(re2::re2 PROPERTIES IMPORTED_LOCATION "${RE2_LIBRARY}"
  INTERFACE_LINK_LIBRARIES Threads::Threads)

find_library(PQXX_LIBRARY pqxx REQUIRED)
find_library(PQ_LIBRARY pq REQUIRED)
find_path(PQ_INCLUDE_DIR libpq-fe.h PATH_SUFFIXES postgresql REQUIRED)
add_library(pqxx::pqxx UNKNOWN IMPORTED)
set_target_properties(pqxx::pqxx PROPERTIES IMPORTED_LOCATION "${PQXX_LIBRARY}"
  INTERFACE_LINK_LIBRARIES "${PQ_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${PQ_INCLUDE_DIR}")

if(FAILCAT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FAILCAT_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

# The allocator. Every ingested failure allocates a few dozen small strings on one thread and
# frees them on another; glibc malloc spends a quarter of the pipeline's CPU on that pattern
# (docs/benchmarks.md), tcmalloc's per-thread caches a fraction of it. Sanitizer and fuzzing
# builds keep the system allocator, which the sanitizers replace.
set(FAILCAT_MALLOC "auto" CACHE STRING "Allocator for the executables: auto, tcmalloc or system")
set_property(CACHE FAILCAT_MALLOC PROPERTY STRINGS auto tcmalloc system)
add_library(failcat_malloc INTERFACE)
if(NOT FAILCAT_MALLOC STREQUAL "system" AND NOT FAILCAT_SANITIZE)
  find_library(TCMALLOC_LIBRARY NAMES tcmalloc_minimal libtcmalloc_minimal.so.4)
  if(TCMALLOC_LIBRARY)
    target_link_libraries(failcat_malloc INTERFACE "${TCMALLOC_LIBRARY}")
    message(STATUS "failcat: allocator tcmalloc (${TCMALLOC_LIBRARY})")
  elseif(FAILCAT_MALLOC STREQUAL "tcmalloc")
    message(FATAL_ERROR "FAILCAT_MALLOC=tcmalloc but libtcmalloc_minimal was not found "
                        "(Debian: libgoogle-perftools-dev)")
  else()
    message(STATUS "failcat: allocator system (libtcmalloc_minimal not found)")
  endif()
endif()
