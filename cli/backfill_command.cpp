// failcat backfill FILE.jsonl: imports historical failures straight into the store.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <random>
#include <unordered_set>

#include "cli/commands.hpp"
#include "cli/store_options.hpp"
#include "config/config.hpp"
#include "core/catalog.hpp"
#include "core/clock.hpp"
#include "core/failure_json.hpp"
#include "core/request_parsing.hpp"
#include "core/uuid.hpp"
#include "storage/failure_store.hpp"

namespace failcat {
namespace {

constexpr const char* kHelp =
    "usage: failcat backfill FILE.jsonl [--batch N] [serve flags such as --database-url]\n"
    "Imports historical failures, one JSON object per line, into the database `failcat serve`\n"
    "would use (DATABASE_URL or FAILCAT_SQLITE_PATH), re-matched with FAILCAT_CATALOG.\n"
    "Each line is a failure as POST /api/v1/failures takes it, plus an optional created_at\n"
    "(RFC 3339) for its historical time. Re-running is safe: a line's event_id, or else a key\n"
    "derived from its content, is stored as its idempotency key, so a line already imported\n"
    "is counted as a duplicate and not stored again. Lines that fail validation are reported\n"
    "with their line number and field; the valid lines are still imported and the command\n"
    "then exits 1. Rows older than FAILCAT_RETENTION_DAYS are removed by the next retention\n"
    "run of a server.\n"
    "  --batch N   rows per transaction (1..1000, default 500)\n";

/// The largest line accepted, as for a single-failure request body.
constexpr std::size_t kMaxLineBytes = 64u << 10;

/// Reads the next line into `text` (without its newline), keeping at most `max` bytes: the rest
/// of a longer line is read past, not held, and `too_long` says so. So memory stays bounded
/// by `max` whatever the file holds (a huge line, a file without newlines). False at the end.
bool read_bounded_line(std::istream& in, std::string& text, std::size_t max, bool& too_long) {
  text.clear();
  too_long = false;
  std::streambuf* buffer = in.rdbuf();
  bool any = false;
  for (;;) {
    const int c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n') return true;
    if (text.size() < max) {
      text.push_back(static_cast<char>(c));
    } else {
      too_long = true;
    }
  }
}
/// Rejected lines reported one by one; beyond that only counted.
constexpr std::size_t kMaxReportedRejects = 100;
/// How far in the future a created_at may lie (clock skew between machines).
constexpr Micros kMaxFutureSkew = 5 * 60 * kMicrosPerSecond;

std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t basis) {
  std::uint64_t hash = basis;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

/// A stable 128-bit key for a line without event_id: two FNV-1a passes over the canonical
/// JSON (keys sorted, no whitespace), so re-indenting a file does not change its keys.
std::string content_key(const std::string& canonical) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "backfill:%016llx%016llx",
                static_cast<unsigned long long>(fnv1a64(canonical, 0xcbf29ce484222325ULL)),
                static_cast<unsigned long long>(fnv1a64(canonical, 0x84222325cbf29ce4ULL)));
  return buf;
}

struct Summary {
  std::uint64_t read = 0;
  std::uint64_t imported = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rejected = 0;
};

void reject(Summary& s, std::size_t line, const std::string& field, const std::string& message) {
  if (++s.rejected <= kMaxReportedRejects) {
    std::cerr << "line " << line << ": " << (field.empty() ? "" : field + ": ") << message << "\n";
  } else if (s.rejected == kMaxReportedRejects + 1) {
    std::cerr << "(further rejected lines are counted, not listed)\n";
  }
}

}  // namespace

int backfill_command(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  std::string path;
  long batch_rows = 500;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kHelp;
      return kExitOk;
    }
    if (a == "--batch" || a.rfind("--batch=", 0) == 0) {
      std::string value = a == "--batch" ? (i + 1 < args.size() ? args[++i] : "") : a.substr(8);
      char* end = nullptr;
      batch_rows = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || batch_rows < 1 || batch_rows > 1000) {
        std::cerr << "failcat: --batch must be an integer from 1 to 1000\n";
        return kExitUsage;
      }
    } else if (a.rfind("--", 0) != 0 && path.empty()) {
      path = a;
    } else {
      rest.push_back(a);
      // Every serve flag takes a value: `--catalog FILE` is one setting wherever it stands.
      if (a.rfind("--", 0) == 0 && a.find('=') == std::string::npos && i + 1 < args.size()) {
        rest.push_back(args[++i]);
      }
    }
  }
  if (path.empty()) {
    std::cerr << kHelp;
    return kExitUsage;
  }
  auto config = parse_config(config_environment(), rest);
  if (!config) {
    std::cerr << "failcat: " << config.error().field << ": " << config.error().message << "\n";
    return kExitUsage;
  }
  const auto loaded = load_catalog_file(config->catalog_path);
  if (!loaded.ok()) {
    std::cerr << "failcat: FAILCAT_CATALOG: " << config->catalog_path
              << " is invalid: " << describe(loaded.problems.front()) << "\n";
    return kExitUsage;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "failcat: cannot read " << path << "\n";
    return kExitUsage;
  }
  auto opened = open_store(store_options(*config));
  if (!opened) {
    std::cerr << "failcat: " << opened.error().field << ": " << opened.error().message << "\n";
    return kExitUsage;
  }
  auto& store = **opened;
  if (auto migrated = store.migrate(); !migrated) {
    std::cerr << "failcat: migrations failed: " << migrated.error().message << "\n";
    return kExitFailure;
  }

  const Catalog& catalog = *loaded.catalog;
  SystemClock clock;
  // A generator never goes back in time (it keeps ids increasing); history comes in any
  // order, so a line older than the previous one starts a fresh generator.
  std::random_device entropy;
  UuidV7Generator ids(std::uint64_t{entropy()} << 32 | entropy());
  std::int64_t last_ms = INT64_MIN;
  Summary summary;
  std::vector<FailureRecord> batch;
  std::unordered_set<std::string> batch_keys;
  // The hours the file reaches: their rollups are recomputed at the end (the server's
  // aggregator only recomputes recent hours).
  Micros earliest = std::numeric_limits<Micros>::max();
  Micros latest = std::numeric_limits<Micros>::min();
  const auto flush = [&]() -> bool {
    if (batch.empty()) return true;
    auto inserted = store.insert_batch(batch);
    if (!inserted) {
      std::cerr << "failcat: the store refused a batch: " << inserted.error().message
                << "\n(nothing of that batch was stored; re-run the same file to resume)\n";
      return false;
    }
    summary.imported += *inserted;
    summary.duplicates += batch.size() - *inserted;
    batch.clear();
    batch_keys.clear();
    return true;
  };

  std::size_t number = 0;
  std::string text;
  bool too_long = false;
  // One byte past the limit tells a line of exactly the limit (plus a \r) from a longer one.
  while (read_bounded_line(in, text, kMaxLineBytes + 2, too_long)) {
    ++number;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    ++summary.read;
    if (too_long || text.size() > kMaxLineBytes) {
      reject(summary, number, "", "longer than 64 KiB");
      continue;
    }
    auto object = parse_json_body(text);
    if (!object) {
      reject(summary, number, object.error().field, object.error().message);
      continue;
    }
    const std::string key_source = dump_json(*object);
    const Micros now = clock.now();
    Micros created_at = now;
    if (object->contains("created_at")) {
      const auto& value = (*object)["created_at"];
      const auto parsed =
          value.is_string() ? parse_rfc3339(value.get<std::string>()) : std::nullopt;
      if (!parsed) {
        reject(summary, number, "created_at", "must be an RFC 3339 time");
        continue;
      }
      if (*parsed > now + kMaxFutureSkew || *parsed < 0) {
        reject(summary, number, "created_at", "must lie between 1970 and now");
        continue;
      }
      created_at = *parsed;
      object->erase("created_at");
    }
    auto input = parse_failure_input(*object, "");
    if (!input) {
      reject(summary, number, input.error().field, input.error().message);
      continue;
    }
    const std::string tenant = input->tenant_id.value_or(std::string(kDefaultTenant));
    std::string key = input->event_id ? *input->event_id : content_key(key_source);
    if (!batch_keys.insert(tenant + '\n' + key).second) {
      ++summary.duplicates;
      continue;
    }
    const std::int64_t ms = created_at / 1000;
    if (ms < last_ms) ids = UuidV7Generator(std::uint64_t{entropy()} << 32 | entropy());
    last_ms = ms;
    FailureRecord r = to_failure_record(*input, ids.next(ms), created_at);
    r.idempotency_key = std::move(key);
    r.skip_if_key_owned = true;  // a line imported before is a duplicate, not a new failure
    apply_match(r, catalog.matcher().match(r.error_code, r.error_message.value_or("")));
    earliest = std::min(earliest, created_at);
    latest = std::max(latest, created_at);
    batch.push_back(std::move(r));
    if (batch.size() >= static_cast<std::size_t>(batch_rows) && !flush()) {
      std::cout << "read " << summary.read << ", imported " << summary.imported << ", duplicates "
                << summary.duplicates << ", rejected " << summary.rejected << " (stopped at line "
                << number << ")\n";
      return kExitFailure;
    }
  }
  if (in.bad()) {
    std::cerr << "failcat: reading " << path << " failed at line " << number << "\n";
    flush();
    return kExitFailure;
  }
  if (!flush()) return kExitFailure;
  std::cout << "read " << summary.read << ", imported " << summary.imported << ", duplicates "
            << summary.duplicates << ", rejected " << summary.rejected << "\n";
  // A day per statement: months of history are many short transactions, not one that holds
  // the database (or runs into the statement timeout on every re-run).
  constexpr Micros kDay = 24 * kMicrosPerHour;
  for (Micros day = floor_hour(earliest); earliest <= latest && day <= latest; day += kDay) {
    auto rolled = store.rollup_aggregates(day, std::min(day + kDay, latest + 1), clock.now());
    if (!rolled) {
      std::cerr << "failcat: the rollups of the imported hours failed: " << rolled.error().message
                << "\n(the rows are stored; re-run the same file to retry)\n";
      return kExitFailure;
    }
  }
  return summary.rejected == 0 ? kExitOk : kExitFailure;
}

}  // namespace failcat
