// failcat: the failure catalog service. One binary, one subcommand per job.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace {

constexpr const char* kUsage =
    "usage: failcat <command> [args]\n\n"
    "commands:\n"
    "  serve            run the server (failcat serve --help lists every setting)\n"
    "  migrate          apply schema migrations (--status lists them)\n"
    "  catalog check F  validate a failure catalog file\n"
    "  backfill F       import historical failures from a JSONL file (idempotent)\n"
    "  keys             manage API keys (add, list, remove)\n"
    "  version          print the version\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return failcat::kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "serve") return failcat::serve_command(args);
  if (command == "migrate") return failcat::migrate_command(args);
  if (command == "catalog") return failcat::catalog_command(args);
  if (command == "backfill") return failcat::backfill_command(args);
  if (command == "keys") return failcat::keys_command(args);
  if (command == "version" || command == "--version") {
    std::cout << "failcat " << FAILCAT_VERSION << "\n";
    return failcat::kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return failcat::kExitOk;
  }
  std::cerr << "failcat: unknown command '" << command << "'\n" << kUsage;
  return failcat::kExitUsage;
}
