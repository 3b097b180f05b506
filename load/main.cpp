// failcat-load: synthetic failures, load against the HTTP API or the in-process actor
// pipeline, and the baselines the benchmarks compare with.
#include <iostream>
#include <string>
#include <vector>

#include "load/commands.hpp"

namespace {

constexpr const char* kUsage =
    "usage: failcat-load <command> [flags]   (failcat-load <command> --help for flags)\n\n"
    "commands:\n"
    "  generate         write synthetic failures drawn from a catalog as JSONL\n"
    "  http             drive a running server with JSONL failures; --validate checks storage\n"
    "  actors           push failures through the actor pipeline in-process\n"
    "  baseline-server  a bare Pistache server answering a fixed 202\n"
    "  pg-copy          raw COPY of generated rows into PostgreSQL (baseline)\n"
    "  pg-insert        one INSERT per transaction behind a breaker (the seed's design)\n";

}  // namespace

int main(int argc, char** argv) {
  namespace load = failcat::load;
  if (argc < 2) {
    std::cerr << kUsage;
    return load::kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "generate") return load::generate_command(args);
  if (command == "http") return load::http_command(args);
  if (command == "actors") return load::actors_command(args);
  if (command == "baseline-server") return load::baseline_server_command(args);
  if (command == "pg-copy" || command == "pg-insert") {
    return load::pg_baseline_command(command, args);
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return load::kExitOk;
  }
  std::cerr << "failcat-load: unknown command '" << command << "'\n" << kUsage;
  return load::kExitUsage;
}
