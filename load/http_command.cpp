// failcat-load http: drives a running server over keep-alive connections and reports
// throughput and latency; --validate then proves that what was acknowledged is what is stored.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/failure_json.hpp"
#include "load/arguments.hpp"
#include "load/commands.hpp"
#include "load/http_driver.hpp"
#include "load/server_counts.hpp"

namespace failcat::load {
namespace {

constexpr const char* kHelp =
    "usage: failcat-load http [flags] < failures.jsonl\n"
    "  --host H             server address (default 127.0.0.1)\n"
    "  --port P             server port (default 8080)\n"
    "  --input FILE         JSONL failures (default: stdin)\n"
    "  --concurrency N      keep-alive connections (default 16)\n"
    "  --threads N          client event loops (default 1)\n"
    "  --count N            failures to send (default: every line once; with --duration the\n"
    "                       lines are sent again in a loop)\n"
    "  --duration D         stop after D (30s, 2m)\n"
    "  --rate R             requests per second, open loop (default: closed loop)\n"
    "  --batch N            failures per request: 1 uses POST /api/v1/failures, more uses\n"
    "                       POST /api/v1/failures/batch (default 1)\n"
    "  --path PATH          POST to PATH instead (a baseline server)\n"
    "  --timeout D          per-request timeout (default 10s)\n"
    "  --wait-persisted D   after the run, wait up to D until every acknowledged failure is in\n"
    "                       the database (failcat_persisted_rows_total) and report rows/s\n"
    "  --validate           prove every acknowledged id is stored exactly once and that tiers,\n"
    "                       the stats endpoint and /metrics agree (assumes no other writer)\n"
    "  --validate-timeout D how long to wait for persistence when validating (default 60s)\n"
    "  --json               print the report as JSON on stdout (the summary goes to stderr)\n"
    "  --progress           a progress line every second (default: when stderr is a terminal)\n";

struct Line {
  std::string body;
  std::string run_id;
  std::optional<MatchType> expect;
};

/// One acknowledged item.
struct Ack {
  std::uint64_t line = 0;
  std::string id;
  std::string match_type;
};

struct ThreadAcks {
  std::vector<Ack> acks;
  std::uint64_t unanswered_items = 0;  ///< Items of requests that got no answer.
  std::uint64_t bad_bodies = 0;
};

std::string percent_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

double ms(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

Result<std::vector<Line>> read_lines(const std::string& path, bool need_details) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return Error::invalid("input", "cannot read " + path);
    in = &file;
  }
  std::vector<Line> lines;
  std::size_t number = 0;
  bool warned = false;
  for (std::string text; std::getline(*in, text);) {
    ++number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Line line;
    const bool has_created_at = text.find("\"created_at\"") != std::string::npos;
    if (need_details || has_created_at) {
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (!j.is_object()) {
        return Error::invalid("input", "line " + std::to_string(number) + " is not a JSON object");
      }
      if (j.contains("created_at")) {
        // Historical times are for `failcat backfill`; the API sets its own.
        if (!warned) std::cerr << "failcat-load: dropping created_at (the API sets the time)\n";
        warned = true;
        j.erase("created_at");
        text = dump_json(j);
      }
      if (j.contains("run_id") && j["run_id"].is_string()) line.run_id = j["run_id"];
      const auto* load =
          j.contains("context") && j["context"].is_object() && j["context"].contains("load")
              ? &j["context"]["load"]
              : nullptr;
      if (load && load->is_object() && load->contains("expect") && (*load)["expect"].is_string()) {
        line.expect = parse_match_type((*load)["expect"].get<std::string>());
      }
    }
    line.body = std::move(text);
    lines.push_back(std::move(line));
  }
  return lines;
}

nlohmann::json latency_json(const LatencyHistogram& h) {
  return {{"p50", ms(h.quantile(0.50))}, {"p90", ms(h.quantile(0.90))},
          {"p99", ms(h.quantile(0.99))}, {"p99_9", ms(h.quantile(0.999))},
          {"max", ms(h.max())},          {"mean", h.mean() / 1e6}};
}

/// Collects the stored rows of `run_id` (id → match_type) by keyset paging.
Status page_run(HttpClient& client, const std::string& run_id,
                std::unordered_map<std::string, std::pair<int, std::string>>& stored,
                std::uint64_t& extra_rows,
                const std::unordered_map<std::string, std::size_t>& acked) {
  std::string cursor;
  for (int page = 0; page < 1'000'000; ++page) {
    std::string target =
        "/api/v1/failures?since_hours=8760&limit=1000&run_id=" + percent_encode(run_id);
    if (!cursor.empty()) target += "&cursor=" + percent_encode(cursor);
    auto reply = client.get(target);
    if (!reply) return reply.error();
    if (reply->status != 200) {
      return Error::unavailable("GET " + target + " answered " + std::to_string(reply->status));
    }
    const auto j = nlohmann::json::parse(reply->body, nullptr, false);
    if (!j.is_object() || !j.contains("items")) return Error::unavailable("list answer not JSON");
    for (const auto& item : j["items"]) {
      const std::string id = item.value("id", "");
      const std::string type =
          item["match_type"].is_string() ? item["match_type"].get<std::string>() : "";
      if (acked.count(id) == 0) {
        ++extra_rows;
        continue;
      }
      auto& slot = stored[id];
      ++slot.first;
      slot.second = type;
    }
    if (!j.contains("next_cursor") || !j["next_cursor"].is_string()) return ok_status();
    cursor = j["next_cursor"].get<std::string>();
  }
  return Error::unavailable("too many pages for run " + run_id);
}

std::string tier_table(const char* name, const TierCounts& c) {
  std::ostringstream out;
  out << name << ": exact " << c[0] << ", prefix " << c[1] << ", pattern " << c[2] << ", fuzzy "
      << c[3] << ", miss " << c[4];
  return out.str();
}

TierCounts delta(const TierCounts& after, const TierCounts& before) {
  TierCounts d{};
  for (std::size_t i = 0; i < kTierCount; ++i) d[i] = after[i] - before[i];
  return d;
}

}  // namespace

int http_command(const std::vector<std::string>& argv) {
  try {
    Arguments args(argv, {"validate", "json", "progress", "help"},
                   {"host", "port", "input", "concurrency", "threads", "count", "duration", "rate",
                    "batch", "path", "timeout", "wait-persisted", "validate-timeout"});
    if (args.has("help")) {
      std::cout << kHelp;
      return kExitOk;
    }
    install_stop_handler();
    const bool validate = args.has("validate");
    const bool as_json = args.has("json");
    std::ostream& human = as_json ? std::cerr : std::cout;
    DriveOptions drive_options;
    drive_options.host = args.text("host", "127.0.0.1");
    drive_options.port = static_cast<int>(args.integer("port", 8080, 1, 65535));
    drive_options.connections = static_cast<int>(args.integer("concurrency", 16, 1, 10000));
    drive_options.threads = static_cast<int>(args.integer("threads", 1, 1, 64));
    drive_options.rate = args.number("rate", 0, 0, 1e8);
    drive_options.duration_s = args.seconds("duration", 0);
    drive_options.timeout_ms = static_cast<int>(args.seconds("timeout", 10) * 1000);
    const auto batch = static_cast<std::size_t>(args.integer("batch", 1, 1, 1000));
    const std::string path =
        args.text("path", batch > 1 ? "/api/v1/failures/batch" : "/api/v1/failures");
    const double wait_persisted = args.seconds("wait-persisted", 0);
    const double validate_timeout = args.seconds("validate-timeout", 60);
    if (validate && (batch > 1 ? path != "/api/v1/failures/batch" : path != "/api/v1/failures")) {
      throw UsageError("--validate needs the failcat ingest route, not --path");
    }

    auto lines_or = read_lines(args.text("input", "-"), validate);
    if (!lines_or) throw UsageError(lines_or.error().message);
    const std::vector<Line> lines = std::move(*lines_or);
    if (lines.empty()) throw UsageError("no failures on the input");

    const std::uint64_t unique_requests = (lines.size() + batch - 1) / batch;
    std::uint64_t max_requests = unique_requests;
    if (args.has("count")) {
      const auto count = static_cast<std::uint64_t>(args.integer("count", 0, 1, INT64_MAX));
      max_requests = (count + batch - 1) / batch;
    } else if (drive_options.duration_s > 0) {
      max_requests = 0;  // The duration ends it.
    }
    drive_options.max_requests = max_requests;
    if (drive_options.max_requests == 0 && drive_options.duration_s == 0) {
      throw UsageError("give --count or --duration");
    }

    const std::string host_header = drive_options.host + ":" + std::to_string(drive_options.port);
    std::vector<std::string> wires;
    std::vector<std::size_t> first_line;
    wires.reserve(unique_requests);
    for (std::size_t start = 0; start < lines.size(); start += batch) {
      std::string body;
      if (batch == 1) {
        body = lines[start].body;
      } else {
        body = "{\"failures\":[";
        for (std::size_t i = start; i < std::min(lines.size(), start + batch); ++i) {
          if (i != start) body += ',';
          body += lines[i].body;
        }
        body += "]}";
      }
      wires.push_back(build_request("POST", path, host_header, body));
      first_line.push_back(start);
    }
    const auto items_of = [&](std::uint64_t r) {
      const std::size_t s = first_line[r];
      return std::min(lines.size(), s + batch) - s;
    };

    HttpClient api(drive_options.host, drive_options.port);
    std::optional<ServerCounts> before;
    if (validate || wait_persisted > 0) {
      auto counts = validate ? fetch_server_counts(api) : fetch_metric_counts(api);
      if (!counts) {
        std::cerr << "failcat-load: cannot read the server's counters: " << counts.error().message
                  << "\n";
        return kExitFailure;
      }
      before = *counts;
    }

    std::vector<ThreadAcks> per_thread(static_cast<std::size_t>(drive_options.threads));
    std::vector<std::uint64_t> acked_items(static_cast<std::size_t>(drive_options.threads), 0);
    const RequestSource source = [&](std::uint64_t k) -> const std::string& {
      return wires[k % unique_requests];
    };
    const ReplySink sink = [&](int thread, std::uint64_t k, const HttpReply* reply) {
      const std::uint64_t r = k % unique_requests;
      auto& mine = per_thread[static_cast<std::size_t>(thread)];
      if (reply == nullptr) {
        mine.unanswered_items += items_of(r);
        return;
      }
      if (reply->status != 202) return;
      acked_items[static_cast<std::size_t>(thread)] += items_of(r);
      if (!validate) return;
      const auto j = nlohmann::json::parse(reply->body, nullptr, false);
      const auto record = [&](const nlohmann::json& item, std::size_t offset) {
        if (!item.is_object() || !item.contains("id") || !item["id"].is_string()) {
          ++mine.bad_bodies;
          return;
        }
        mine.acks.push_back(Ack{first_line[r] + offset, item["id"].get<std::string>(),
                                item["match_type"].is_string()
                                    ? item["match_type"].get<std::string>()
                                    : std::string()});
      };
      if (batch == 1) {
        record(j, 0);
      } else if (j.is_object() && j.contains("items") && j["items"].is_array() &&
                 j["items"].size() == items_of(r)) {
        for (std::size_t i = 0; i < j["items"].size(); ++i) record(j["items"][i], i);
      } else {  // not an answer for each item sent
        ++mine.bad_bodies;
      }
    };

    DriveProgress progress;
    std::atomic<bool> finished{false};
    const bool show_progress = args.has("progress") || isatty(STDERR_FILENO) != 0;
    const auto started = std::chrono::steady_clock::now();
    std::thread reporter([&] {
      std::uint64_t last = 0;
      int tick = 0;
      while (!finished.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (++tick % (show_progress ? 10 : 100) != 0 || finished.load()) continue;
        const auto done = progress.completed.load();
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::cerr << "[" << static_cast<int>(secs) << "s] " << done << " answered ("
                  << (done - last) * (show_progress ? 1 : 0.1) << " req/s), "
                  << progress.failed.load() << " failed\n";
        last = done;
      }
    });
    DriveResult result = drive(drive_options, source, sink, g_stop_requested, progress);
    finished = true;
    reporter.join();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const bool interrupted = g_stop_requested.load();

    std::uint64_t acked = 0;
    for (auto n : acked_items) acked += n;
    const double elapsed = result.elapsed_s > 0 ? result.elapsed_s : wall;

    nlohmann::json report = {
        {"mode", "http"},
        {"target", host_header + path},
        {"concurrency", drive_options.connections},
        {"batch", batch},
        {"rate", drive_options.rate},
        {"interrupted", interrupted},
        {"elapsed_s", elapsed},
        {"requests",
         {{"sent", result.sent},
          {"answered", result.answered},
          {"transport_errors", result.transport_errors},
          {"timeouts", result.timeouts},
          {"unsent", result.unsent}}},
        {"requests_per_s", static_cast<double>(result.answered) / elapsed},
        {"failures_acknowledged", acked},
        {"failures_per_s", static_cast<double>(acked) / elapsed},
        {"latency_ms", latency_json(result.latency)},
    };
    nlohmann::json statuses = nlohmann::json::object();
    for (const auto& [status, n] : result.statuses) statuses[std::to_string(status)] = n;
    report["statuses"] = statuses;

    human << (interrupted ? "interrupted: " : "") << result.answered << " requests answered in "
          << elapsed << " s: " << static_cast<std::uint64_t>(result.answered / elapsed)
          << " req/s, " << static_cast<std::uint64_t>(acked / elapsed)
          << " failures/s acknowledged\n"
          << "latency ms: p50 " << ms(result.latency.quantile(0.5)) << "  p90 "
          << ms(result.latency.quantile(0.9)) << "  p99 " << ms(result.latency.quantile(0.99))
          << "  p99.9 " << ms(result.latency.quantile(0.999)) << "  max "
          << ms(result.latency.max()) << "\nstatus:";
    for (const auto& [status, n] : result.statuses) human << " " << status << "=" << n;
    human << "  transport errors " << result.transport_errors << ", timeouts " << result.timeouts
          << ", unsent (due, no free connection at the end) " << result.unsent << "\n";
    if (!result.first_error.empty()) human << "first error: " << result.first_error << "\n";

    int exit_code = result.answered == 0 ? kExitFailure : kExitOk;

    // Persistence: acknowledged (in the WAL or in memory) is not yet stored.
    const double wait_for = validate ? std::max(validate_timeout, wait_persisted) : wait_persisted;
    std::optional<ServerCounts> after;
    if (before && wait_for > 0) {
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(static_cast<std::int64_t>(wait_for * 1000));
      bool persisted = false;
      double rows = 0;
      while (!persisted && std::chrono::steady_clock::now() < deadline) {
        auto counts = fetch_metric_counts(api);
        if (counts) {
          rows = counts->persisted_rows - before->persisted_rows;
          persisted = rows >= static_cast<double>(acked);
        }
        if (!persisted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      const double until =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      report["persisted"] = {{"rows", rows},
                             {"complete", persisted},
                             {"seconds_from_start", until},
                             {"rows_per_s", rows / until}};
      human << (persisted ? "persisted " : "NOT all persisted: ") << rows << " rows, "
            << static_cast<std::uint64_t>(rows / until) << " rows/s from start to last row\n";
      if (!persisted && !validate) exit_code = kExitFailure;
    }

    if (validate) {
      std::vector<std::string> problems;
      // Stored rows can lag the persisted counter by a commit; settle on the stats total.
      const auto deadline =
          std::chrono::steady_clock::now() +
          std::chrono::milliseconds(static_cast<std::int64_t>(validate_timeout * 1000));
      for (;;) {
        auto counts = fetch_server_counts(api);
        if (counts) after = *counts;
        if (after && after->stats_total - before->stats_total >= static_cast<std::int64_t>(acked))
          break;
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (!after) {
        problems.push_back("could not read the server's counters after the run");
      }

      std::vector<Ack> acks;
      std::uint64_t unanswered = 0, bad_bodies = 0;
      for (auto& t : per_thread) {
        unanswered += t.unanswered_items;
        bad_bodies += t.bad_bodies;
        acks.insert(acks.end(), t.acks.begin(), t.acks.end());
      }
      if (bad_bodies > 0) {
        problems.push_back(std::to_string(bad_bodies) +
                           " 202 answers without an id (or, for a batch, not one per item)");
      }
      if (acks.empty()) {
        // Nothing was acknowledged (every request refused, 401 without a key...): there is
        // nothing to prove, which is no proof.
        problems.push_back("no failure was acknowledged");
      }
      std::unordered_map<std::string, std::size_t> by_id;
      std::set<std::string> runs;
      TierCounts expected{}, answered{};
      bool all_expected = true;
      std::size_t tier_diffs = 0;
      for (std::size_t i = 0; i < acks.size(); ++i) {
        const auto& a = acks[i];
        const Line& line = lines[a.line];
        if (!by_id.emplace(a.id, i).second) {
          problems.push_back("id " + a.id + " acknowledged twice");
        }
        runs.insert(line.run_id);
        const auto got = parse_match_type(a.match_type);
        if (got) ++answered[static_cast<std::size_t>(*got)];
        if (!line.expect) {
          all_expected = false;
          continue;
        }
        ++expected[static_cast<std::size_t>(*line.expect)];
        if (got != line.expect && ++tier_diffs <= 10) {
          problems.push_back("line " + std::to_string(a.line + 1) + ": generated as " +
                             std::string(to_string(*line.expect)) + ", answered " +
                             (a.match_type.empty() ? "nothing" : a.match_type) + " (id " + a.id +
                             ")");
        }
      }
      if (tier_diffs > 10) {
        problems.push_back(std::to_string(tier_diffs - 10) + " more lines answered another tier");
      }

      std::unordered_map<std::string, std::pair<int, std::string>> stored;
      std::uint64_t extra_rows = 0;
      for (const auto& run : runs) {
        if (auto paged = page_run(api, run, stored, extra_rows, by_id); !paged) {
          problems.push_back("listing run " + run + ": " + paged.error().message);
          break;
        }
      }
      TierCounts stored_tiers{};
      std::size_t missing = 0, wrong = 0;
      for (const auto& a : acks) {
        const auto it = stored.find(a.id);
        if (it == stored.end()) {
          if (++missing <= 10) problems.push_back("acknowledged id " + a.id + " is not stored");
          continue;
        }
        if (it->second.first != 1) {
          problems.push_back("id " + a.id + " listed " + std::to_string(it->second.first) +
                             " times");
        }
        if (const auto t = parse_match_type(it->second.second)) {
          ++stored_tiers[static_cast<std::size_t>(*t)];
        }
        if (it->second.second != a.match_type && ++wrong <= 10) {
          problems.push_back("id " + a.id + " stored as " + it->second.second + ", answered " +
                             a.match_type);
        }
      }
      if (missing > 10) problems.push_back(std::to_string(missing - 10) + " more ids missing");
      // A request that timed out may still have been stored; more than that is a duplicate.
      if (extra_rows > unanswered) {
        problems.push_back(std::to_string(extra_rows) +
                           " stored rows in these runs were never acknowledged (" +
                           std::to_string(unanswered) +
                           " items went unanswered); was this input sent here before?");
      }

      const TierCounts& reference = all_expected ? expected : answered;
      const auto compare = [&](const char* what, const TierCounts& got) {
        if (got != reference) {
          problems.push_back(tier_table(what, got) + "  ≠  " +
                             tier_table(all_expected ? "generated" : "answered", reference));
        }
      };
      if (all_expected) compare("answered", answered);
      compare("stored", stored_tiers);
      nlohmann::json tiers = {{"answered", answered}, {"stored", stored_tiers}};
      if (all_expected) tiers["generated"] = expected;
      if (after) {
        const auto stats_tiers = delta(after->stats_by_tier, before->stats_by_tier);
        const auto metric_tiers = delta(after->metric_by_tier, before->metric_by_tier);
        compare("stats endpoint", stats_tiers);
        compare("/metrics", metric_tiers);
        const auto total = after->stats_total - before->stats_total;
        const auto matched = after->stats_matched - before->stats_matched;
        const auto missed = after->stats_missed - before->stats_missed;
        const auto ref_miss = static_cast<std::int64_t>(reference[4]);
        const auto ref_total = static_cast<std::int64_t>(acks.size());
        if (total != ref_total || missed != ref_miss || matched != ref_total - ref_miss) {
          problems.push_back("stats total/matched/missed grew by " + std::to_string(total) + "/" +
                             std::to_string(matched) + "/" + std::to_string(missed) +
                             ", expected " + std::to_string(ref_total) + "/" +
                             std::to_string(ref_total - ref_miss) + "/" + std::to_string(ref_miss));
        }
        tiers["stats"] = stats_tiers;
        tiers["metrics"] = metric_tiers;
      }
      report["validation"] = {{"ok", problems.empty()},
                              {"acknowledged", acks.size()},
                              {"stored_once", acks.size() - missing},
                              {"runs", runs.size()},
                              {"unacknowledged_rows", extra_rows},
                              {"tiers", tiers},
                              {"problems", problems}};
      if (problems.empty()) {
        human << "validation OK: " << acks.size() << " acknowledged ids stored exactly once in "
              << runs.size() << " runs; " << tier_table("tiers", reference)
              << "; stats endpoint and /metrics agree\n";
      } else {
        human << "validation FAILED:\n";
        for (const auto& p : problems) human << "  " << p << "\n";
        exit_code = kExitFailure;
      }
    }
    if (as_json) std::cout << report.dump(2) << "\n";
    return exit_code;
  } catch (const UsageError& e) {
    std::cerr << "failcat-load http: " << e.what() << "\n" << kHelp;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "failcat-load http: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace failcat::load
