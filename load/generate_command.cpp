// failcat-load generate: deterministic synthetic failures as JSONL.
#include <chrono>
#include <fstream>
#include <iostream>

#include "core/catalog.hpp"
#include "core/failure_json.hpp"
#include "load/arguments.hpp"
#include "load/commands.hpp"
#include "load/failure_rows.hpp"
#include "load/synthetic_failures.hpp"

namespace failcat::load {
namespace {

constexpr const char* kHelp =
    "usage: failcat-load generate [flags] > failures.jsonl\n"
    "  --catalog FILE       catalog to draw from (default config/failure_catalog.json)\n"
    "  --count N            failures to write (default 10000)\n"
    "  --seed S             random seed; the same seed gives the same file (default 1)\n"
    "  --miss-ratio R       share of failures the catalog does not know (default 0.1)\n"
    "  --tenants N          distinct tenant ids (default 1)\n"
    "  --runs N             distinct run ids (default 10)\n"
    "  --skills N           distinct skill ids (default 8)\n"
    "  --run-prefix P       run ids are P-run-<k> (default load-<seed in hex>)\n"
    "  --event-ids          give every line an event_id (idempotency key)\n"
    "  --history-hours H    give every line a created_at within the last H hours\n"
    "  --now TIME           RFC 3339 time --history-hours counts back from (default: now)\n"
    "  --out FILE           write here instead of stdout\n"
    "Each line is a failure as POST /api/v1/failures takes it (and failcat backfill reads);\n"
    "context.load says which catalog tier must recognise it.\n";

}  // namespace

int generate_command(const std::vector<std::string>& argv) {
  try {
    Arguments args(argv, {"event-ids", "help"},
                   {"catalog", "count", "seed", "miss-ratio", "tenants", "runs", "skills",
                    "run-prefix", "history-hours", "now", "out"});
    if (args.has("help")) {
      std::cout << kHelp;
      return kExitOk;
    }
    const auto catalog_snapshot = catalog_argument(args);
    GeneratorOptions o = generator_arguments(args);
    o.tenants = static_cast<int>(args.integer("tenants", 1, 1, 100000));
    o.runs = static_cast<int>(args.integer("runs", 10, 1, 10000000));
    o.skills = static_cast<int>(args.integer("skills", 8, 1, 100000));
    o.run_prefix = args.text("run-prefix", "");
    o.event_ids = args.has("event-ids");
    o.history_hours = static_cast<int>(args.integer("history-hours", 0, 0, 24 * 365 * 10));
    if (args.has("now")) {
      const auto now = parse_rfc3339(args.text("now", ""));
      if (!now) throw UsageError("--now must be an RFC 3339 time");
      o.now = *now;
    } else {
      o.now = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    }
    const auto count = args.integer("count", 10000, 0, 1'000'000'000);
    if (o.run_prefix.size() > 200) throw UsageError("--run-prefix is limited to 200 characters");

    std::ofstream file;
    std::ostream* out = &std::cout;
    if (args.has("out")) {
      file.open(args.text("out", ""), std::ios::binary | std::ios::trunc);
      if (!file) throw UsageError("--out: cannot write " + args.text("out", ""));
      out = &file;
    }
    std::ios::sync_with_stdio(false);
    FailureGenerator generator(catalog_snapshot, o);
    TierCounts tiers{};
    std::string buffer;
    for (std::int64_t i = 0; i < count; ++i) {
      const auto g = generator.next();
      ++tiers[static_cast<std::size_t>(g.expect)];
      buffer += dump_json(g.line);
      buffer += '\n';
      if (buffer.size() > (1u << 20)) {
        out->write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        buffer.clear();
      }
    }
    out->write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    out->flush();
    if (!*out) {
      std::cerr << "failcat-load: write failed\n";
      return kExitFailure;
    }
    std::cerr << "generated " << count << " failures (run prefix " << generator.run_prefix()
              << "): exact " << tiers[0] << ", prefix " << tiers[1] << ", pattern " << tiers[2]
              << ", fuzzy " << tiers[3] << ", miss " << tiers[4] << "\n";
    return kExitOk;
  } catch (const UsageError& e) {
    std::cerr << "failcat-load generate: " << e.what() << "\n" << kHelp;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "failcat-load generate: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace failcat::load
