# Generates a C++ source holding every migration file as a string literal.
# Inputs: MIGRATIONS_DIR, OUTPUT. Files are named NNNN_name.sql under <backend>/.
file(GLOB _sqlite_files ${MIGRATIONS_DIR}/sqlite/*.sql)
file(GLOB _postgres_files ${MIGRATIONS_DIR}/postgres/*.sql)
list(SORT _sqlite_files)
list(SORT _postgres_files)

function(_emit var files)
  set(_body "")
  set(_seen "")
  foreach(_file IN LISTS files)
    get_filename_component(_name ${_file} NAME_WE)
    if(NOT _name MATCHES "^([0-9]+)_([a-z0-9_]+)$")
      message(FATAL_ERROR "${_file}: a migration is named NNNN_name.sql (lower case, digits, _)")
    endif()
    math(EXPR _version "${CMAKE_MATCH_1}")
    # Two files with one number would both be applied, or one skipped as already applied,
    # depending on the database: refuse the build instead.
    list(FIND _seen ${_version} _at)
    if(NOT _at EQUAL -1)
      message(FATAL_ERROR "${_file}: another migration already has version ${_version}")
    endif()
    list(APPEND _seen ${_version})
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
