// failcat-load actors: the actor pipeline in-process, fed as fast as it accepts, with a null
// store, SQLite or PostgreSQL behind it, in memory or WAL durability.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "actors/failure_service.hpp"
#include "actors/pipeline_options.hpp"
#include "config/logging.hpp"
#include "core/catalog.hpp"
#include "load/arguments.hpp"
#include "load/commands.hpp"
#include "load/failure_rows.hpp"
#include "load/null_store.hpp"
#include "load/server_counts.hpp"
#include "metrics/metrics.hpp"
#include "storage/store_factory.hpp"

namespace failcat::load {
namespace {

constexpr const char* kHelp =
    "usage: failcat-load actors [flags]\n"
    "  --store S            null | sqlite | postgres (default null)\n"
    "  --database-url URL   PostgreSQL for --store postgres (default $DATABASE_URL)\n"
    "  --sqlite-path FILE   SQLite file for --store sqlite (default: a temporary file)\n"
    "  --durability D       memory | wal (default wal)\n"
    "  --wal-dir DIR        WAL directory (default: a temporary directory, removed after)\n"
    "  --count N            failures to push (default 1000000)\n"
    "  --duration D         stop pushing after D (default 60s)\n"
    "  --batch N            failures per ingest call (default 1)\n"
    "  --inflight N         ingest calls outstanding at most (default 4096)\n"
    "  --max-inflight N     the pipeline's FAILCAT_MAX_INFLIGHT (default 10000)\n"
    "  --distinct N         distinct generated failures, cycled (default 50000)\n"
    "  --storage-actors N   storage actors / connections (default 4)\n"
    "  --matcher-actors N   matcher actors (default 2)\n"
    "  --catalog FILE       catalog (default config/failure_catalog.json)\n"
    "  --seed S, --miss-ratio R   as for generate\n"
    "  --persist-timeout D  wait this long for the store to catch up after pushing (default 120s)\n"
    "  --json               print the report as JSON on stdout\n";

struct Depth {
  std::int64_t max = 0;
  double sum = 0;
  std::uint64_t samples = 0;
  void add(std::int64_t v) {
    max = std::max(max, v);
    sum += static_cast<double>(v);
    ++samples;
  }
  nlohmann::json json() const {
    return {{"max", max}, {"mean", samples ? sum / static_cast<double>(samples) : 0.0}};
  }
};

}  // namespace

int actors_command(const std::vector<std::string>& argv) {
  std::filesystem::path temp_dir;
  try {
    Arguments args(argv, {"json", "help"},
                   {"store", "database-url", "sqlite-path", "durability", "wal-dir", "count",
                    "duration", "batch", "inflight", "distinct", "storage-actors", "matcher-actors",
                    "catalog", "seed", "miss-ratio", "persist-timeout", "max-inflight"});
    if (args.has("help")) {
      std::cout << kHelp;
      return kExitOk;
    }
    install_stop_handler();
    // The pipeline logs like the server, on stderr, so stdout stays the report.
    setup_logging("warn", LogFormat::text);
    const bool as_json = args.has("json");
    std::ostream& human = as_json ? std::cerr : std::cout;
    const std::string store_kind = args.text("store", "null");
    if (store_kind != "null" && store_kind != "sqlite" && store_kind != "postgres") {
      throw UsageError("--store must be null, sqlite or postgres");
    }
    const std::string durability = args.text("durability", "wal");
    if (durability != "wal" && durability != "memory") {
      throw UsageError("--durability must be memory or wal");
    }
    const auto count = static_cast<std::uint64_t>(args.integer("count", 1'000'000, 1, INT64_MAX));
    const double duration = args.seconds("duration", 60);
    const auto batch = static_cast<std::size_t>(args.integer("batch", 1, 1, 1000));
    const auto inflight = args.integer("inflight", 4096, 1, 1'000'000);
    const auto distinct = static_cast<std::size_t>(args.integer("distinct", 50'000, 1, 10'000'000));
    const double persist_timeout = args.seconds("persist-timeout", 120);

    const auto catalog_snapshot = catalog_argument(args);
    GeneratorOptions gen = generator_arguments(args);
    gen.runs = 1000;
    const auto inputs = generate_inputs(catalog_snapshot, gen, distinct);

    char tmpl[] = "/tmp/failcat-load-XXXXXX";
    if (!args.has("wal-dir") || (store_kind == "sqlite" && !args.has("sqlite-path"))) {
      if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("cannot create a temp directory");
      temp_dir = tmpl;
    }

    PipelineOptions options;
    options.durability = durability == "wal" ? PipelineDurability::wal : PipelineDurability::memory;
    options.wal_dir = args.text("wal-dir", (temp_dir / "wal").string());
    options.storage_actors = static_cast<int>(args.integer("storage-actors", 4, 1, 64));
    options.matcher_actors = static_cast<int>(args.integer("matcher-actors", 2, 1, 64));
    options.max_inflight =
        static_cast<std::size_t>(args.integer("max-inflight", 10000, 1, 10000000));
    options.aggregate_interval = 3600 * kMicrosPerSecond;
    options.export_dir = (temp_dir.empty() ? std::filesystem::path("/tmp") : temp_dir).string();
    auto inserted = std::make_shared<std::atomic<std::uint64_t>>(0);
    if (store_kind == "null") {
      options.store_factory = [inserted] { return std::make_unique<NullStore>(inserted); };
    } else {
      if (store_kind == "postgres") {
        const char* env = std::getenv("DATABASE_URL");
        options.store.database_url = args.text("database-url", env ? env : "");
        if (!is_postgres_url(options.store.database_url)) {
          throw UsageError("--store postgres needs --database-url (or DATABASE_URL)");
        }
      } else {
        options.store.sqlite_path = args.text("sqlite-path", (temp_dir / "failcat.db").string());
      }
      auto store = open_store(options.store);
      if (!store) throw std::runtime_error(store.error().message);
      if (auto migrated = (*store)->migrate(); !migrated) {
        throw std::runtime_error("migrations failed: " + migrated.error().message);
      }
    }

    SystemClock clock;
    CatalogHolder catalog(catalog_snapshot);
    Metrics metrics(MetricsOptions{"load", {}, {}});
    FailureService service(options, metrics, catalog, clock);
    if (auto started = service.start(); !started) {
      throw std::runtime_error("pipeline did not start: " + started.error().message);
    }
    const PipelineStatus& status = service.status();
    // Replaying an existing WAL or connecting takes a moment; wait for the persister.
    for (int i = 0; i < 500 && !status.persister_ready.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    std::atomic<std::int64_t> outstanding{0};
    std::atomic<std::uint64_t> acked{0}, refused{0};
    std::atomic<std::int64_t> last_ack_ns{0};
    std::mutex reasons_mutex;
    std::mutex slot_mutex;
    std::condition_variable slot_freed;
    std::map<std::string, std::uint64_t> refusal_reasons;
    const auto t0 = std::chrono::steady_clock::now();
    const auto since_start_ns = [t0] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                  t0)
          .count();
    };

    Depth d_client, d_inflight, d_pending, d_wal;
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
      int tick = 0;
      const bool tty = isatty(STDERR_FILENO) != 0;
      while (sampling.load()) {
        d_client.add(outstanding.load());
        d_inflight.add(status.inflight.load());
        d_pending.add(static_cast<std::int64_t>(status.pending_rows.load()));
        d_wal.add(static_cast<std::int64_t>(status.wal_backlog_rows.load()));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (++tick % (tty ? 100 : 1000) == 0) {
          std::cerr << "[" << tick / 100 << "s] " << acked.load() << " acknowledged, pending rows "
                    << status.pending_rows.load() << "\n";
        }
      }
    });

    const auto deadline_ns = static_cast<std::int64_t>(duration * 1e9);
    std::uint64_t pushed = 0;
    std::size_t cursor = 0;
    while (pushed < count && !g_stop_requested.load()) {
      if (outstanding.load(std::memory_order_relaxed) >= inflight) {
        // Two cores are shared with the pipeline: wait without spinning.
        std::unique_lock<std::mutex> lock(slot_mutex);
        slot_freed.wait_for(lock, std::chrono::milliseconds(1),
                            [&] { return outstanding.load() < inflight; });
        continue;
      }
      if ((pushed & 1023) == 0 && since_start_ns() > deadline_ns) break;
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - pushed));
      std::vector<FailureInput> items;
      items.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        items.push_back(inputs[cursor]);
        cursor = cursor + 1 == inputs.size() ? 0 : cursor + 1;
      }
      outstanding.fetch_add(1, std::memory_order_relaxed);
      service.ingest(std::move(items), std::vector<std::optional<std::string>>(n),
                     [&, n](const Result<IngestOutcome>& outcome) {
                       if (outcome) {
                         acked.fetch_add(n, std::memory_order_relaxed);
                         last_ack_ns.store(since_start_ns(), std::memory_order_relaxed);
                       } else {
                         refused.fetch_add(n, std::memory_order_relaxed);
                         std::lock_guard<std::mutex> lock(reasons_mutex);
                         refusal_reasons[outcome.error().message] += n;
                       }
                       if (outstanding.fetch_sub(1) == inflight) slot_freed.notify_one();
                     });
      pushed += n;
    }
    while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double ack_s = static_cast<double>(last_ack_ns.load()) / 1e9;

    // Persistence catches up behind the acknowledgements.
    const auto persist_deadline =
        std::chrono::steady_clock::now() +
        std::chrono::milliseconds(static_cast<std::int64_t>(persist_timeout * 1000));
    while (status.pending_rows.load() > 0 && std::chrono::steady_clock::now() < persist_deadline &&
           !g_stop_requested.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const bool persisted = status.pending_rows.load() == 0;
    const double persist_s = static_cast<double>(since_start_ns()) / 1e9;
    sampling = false;
    sampler.join();
    const auto left = service.stop(clock.steady() + 10 * kMicrosPerSecond);

    const double ack_rate = ack_s > 0 ? static_cast<double>(acked.load()) / ack_s : 0;
    const double persist_rate = static_cast<double>(acked.load()) / persist_s;
    nlohmann::json report = {
        {"mode", "actors"},
        {"store", store_kind},
        {"durability", durability},
        {"batch", batch},
        {"interrupted", g_stop_requested.load()},
        {"pushed", pushed},
        {"acknowledged", acked.load()},
        {"refused", refused.load()},
        {"ack_seconds", ack_s},
        {"failures_per_s", ack_rate},
        {"persisted", persisted},
        {"persist_seconds", persist_s},
        {"persisted_rows_per_s", persisted ? persist_rate : 0.0},
        {"rows_left_unstored", left},
        {"stage_depths",
         {{"client_outstanding_calls", d_client.json()},
          {"pipeline_inflight_jobs", d_inflight.json()},
          {"persister_pending_rows", d_pending.json()},
          {"wal_backlog_rows", d_wal.json()}}},
    };
    if (store_kind == "null") report["null_store_rows"] = inserted->load();
    const auto series = parse_prometheus_text(metrics.serialize());
    const double batches = metric_sum(series, "failcat_persist_batch_rows_count");
    const double batch_rows = metric_sum(series, "failcat_persist_batch_rows_sum");
    const double batch_secs = metric_sum(series, "failcat_persist_batch_seconds_sum");
    report["persist_batches"] = {{"count", batches},
                                 {"mean_rows", batches > 0 ? batch_rows / batches : 0.0},
                                 {"mean_ms", batches > 0 ? 1000 * batch_secs / batches : 0.0}};
    report["refusal_reasons"] = refusal_reasons;
    human << store_kind << "/" << durability << ": " << acked.load() << " failures acknowledged in "
          << ack_s << " s = " << static_cast<std::uint64_t>(ack_rate) << " failures/s";
    if (refused.load() > 0) {
      human << " (" << refused.load() << " refused:";
      for (const auto& [reason, n] : refusal_reasons) human << " " << n << " '" << reason << "'";
      human << ")";
    }
    human << "\n"
          << (persisted ? "all stored after " : "NOT all stored after ") << persist_s
          << " s = " << static_cast<std::uint64_t>(persist_rate) << " rows/s end to end\n"
          << "stage depths (max / mean): client calls " << d_client.max << " / "
          << static_cast<std::int64_t>(d_client.json()["mean"].get<double>()) << ", pipeline jobs "
          << d_inflight.max << ", persister pending rows " << d_pending.max << ", WAL backlog rows "
          << d_wal.max << "\n"
          << "persist batches: " << batches << ", mean "
          << (batches > 0 ? batch_rows / batches : 0.0) << " rows, mean "
          << (batches > 0 ? 1000 * batch_secs / batches : 0.0) << " ms\n";
    if (as_json) std::cout << report.dump(2) << "\n";
    if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);
    return acked.load() > 0 && persisted ? kExitOk : kExitFailure;
  } catch (const UsageError& e) {
    std::cerr << "failcat-load actors: " << e.what() << "\n" << kHelp;
    return kExitUsage;
  } catch (const std::exception& e) {
    if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);
    std::cerr << "failcat-load actors: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace failcat::load
