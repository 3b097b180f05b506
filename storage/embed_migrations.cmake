# Generates a C++ source holding every migration file as a string literal.
# Inputs: MIGRATIONS_DIR, OUTPUT. Files are named NNNN_name.sql under <backend>/.
file(GLOB _sqlite_files ${MIGRATIONS_DIR}/sqlite/*.sql)
file(GLOB _postgres_files ${MIGRATIONS_DIR}/postgres/*.sql)
list(SORT _sqlite_files)
list(SORT _postgres_files)

function(_emit var files)
  set(_body "")
  foreach(_file IN LISTS files)
    get_filename_component(_name ${_file} NAME_WE)
    string(REGEX MATCH "^([0-9]+)_(.*)$" _ ${_name})
    math(EXPR _version "${CMAKE_MATCH_1}")
    file(READ ${_file} _sql)
    string(APPEND _body "    {${_version}, \"${CMAKE_MATCH_2}\", R\"failcat_sql(${_sql})failcat_sql\"},\n")
  endforeach()
  set(${var} "${_body}" PARENT_SCOPE)
endfunction()

_emit(_sqlite_body "${_sqlite_files}")
_emit(_postgres_body "${_postgres_files}")

file(WRITE ${OUTPUT}.tmp "// Generated from storage/migrations by embed_migrations.cmake.
#include \"storage/migration_set.hpp\"

namespace failcat {

const std::vector<Migration>& sqlite_migrations() {
  static const std::vector<Migration> kMigrations = {
${_sqlite_body}  };
  return kMigrations;
}

const std::vector<Migration>& postgres_migrations() {
  static const std::vector<Migration> kMigrations = {
${_postgres_body}  };
  return kMigrations;
}

}  // namespace failcat
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
