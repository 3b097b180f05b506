#pragma once

#include <string>
#include <vector>

namespace failcat::load {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  ///< The run failed or validation found a difference.
inline constexpr int kExitUsage = 2;

/// `failcat-load generate`: synthetic failures as JSONL.
int generate_command(const std::vector<std::string>& args);
/// `failcat-load http`: drives a running server; `--validate` checks what it stored.
int http_command(const std::vector<std::string>& args);
/// `failcat-load actors`: the actor pipeline in-process, as fast as it goes.
int actors_command(const std::vector<std::string>& args);
/// `failcat-load baseline-server`: a bare Pistache endpoint answering a fixed 202.
int baseline_server_command(const std::vector<std::string>& args);
/// `failcat-load pg-copy` and `pg-insert`: PostgreSQL baselines for the same rows.
int pg_baseline_command(const std::string& which, const std::vector<std::string>& args);

}  // namespace failcat::load
