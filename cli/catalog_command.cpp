#include <iostream>

#include "cli/commands.hpp"
#include "core/catalog.hpp"

namespace failcat {

int catalog_command(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "check") {
    std::cerr << "usage: failcat catalog check FILE\n";
    return kExitUsage;
  }
  const auto load = load_catalog_file(args[1]);
  if (!load.ok()) {
    for (const auto& problem : load.problems) std::cout << describe(problem) << "\n";
    std::cout << args[1] << ": " << load.problems.size() << " problem"
              << (load.problems.size() == 1 ? "" : "s") << "\n";
    return kExitFailure;
  }
  const auto& s = load.catalog->summary();
  std::cout << args[1] << ": ok (version " << load.catalog->version() << ")\n"
            << "  entries:  " << s.entries << "\n"
            << "  codes:    " << s.codes << "\n"
            << "  prefixes: " << s.prefixes << "\n"
            << "  patterns: " << s.patterns << "\n"
            << "  examples: " << s.examples << "\n";
  return kExitOk;
}

}  // namespace failcat
