#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/failure.hpp"
#include "core/timestamp.hpp"

namespace failcat {

/// Which tenants a query may see or touch: one tenant, or every tenant (admin/unauthenticated
/// open mode). Every store call takes one, so authorisation narrows queries in one place.
class TenantScope {
 public:
  static TenantScope all() { return TenantScope(std::nullopt); }
  static TenantScope only(std::string tenant_id) { return TenantScope(std::move(tenant_id)); }

  bool is_all() const { return !tenant_.has_value(); }
  const std::optional<std::string>& tenant() const { return tenant_; }
  /// True when a row of `tenant_id` is visible in this scope.
  bool admits(const std::string& tenant_id) const { return !tenant_ || *tenant_ == tenant_id; }

 private:
  explicit TenantScope(std::optional<std::string> tenant) : tenant_(std::move(tenant)) {}
  std::optional<std::string> tenant_;
};

enum class RecoveryStatus { all, unrecovered, recovered };

/// Filters shared by list, bulk recovery and stats. Every field is optional; all that are
/// set must hold (AND). `since` bounds `created_at` from below.
struct FailureFilter {
  std::optional<std::string> tenant_id;
  std::optional<std::string> run_id;
  std::optional<std::string> error_code;
  std::optional<std::string> category;
  RecoveryStatus status = RecoveryStatus::all;
  std::optional<Micros> since;
};

/// A position in the list ordering (`created_at` desc, `id` desc): the last row of a page.
struct ListCursor {
  Micros created_at = 0;
  std::string id;
  /// A digest of the list's filters the cursor was issued for: a cursor pages only those.
  std::uint32_t filters = 0;
};

/// The most rows a list counts for its `total`. Counting every row of a large filter costs a
/// scan of all of them on every page; counting up to a bound costs at most this many index
/// entries. Above it the total is reported as inexact (more rows match than `total`).
constexpr std::int64_t kListTotalLimit = 10000;

struct ListQuery {
  FailureFilter filter;
  std::int64_t limit = 100;
  std::int64_t offset = 0;
  std::optional<ListCursor> after;  ///< Keyset paging: rows strictly after this position.
  /// The digest of the filters (ListCursor::filters) that a next-page cursor carries.
  std::uint32_t filters_digest = 0;
  bool with_total = true;
  /// Count at most this many matching rows for `total` (see kListTotalLimit).
  std::int64_t total_limit = kListTotalLimit;
};

struct FailurePage {
  std::vector<FailureRecord> items;
  /// Rows matching the filter over all pages. For a list, capped at its `total_limit`: when
  /// more rows match, `total` is the limit and `total_exact` is false.
  std::int64_t total = 0;
  bool total_exact = true;
  std::optional<ListCursor> next;  ///< Set when more rows follow this page.
};

struct UnrecoveredQuery {
  std::optional<std::string> tenant_id;
  std::optional<std::string> category;
  std::optional<Micros> since;
  std::int64_t limit = 100;
  std::int64_t offset = 0;
};

/// What a PATCH or bulk update sets. `at` becomes `updated_at` (and `recovered_at` when
/// succeeded).
struct RecoveryUpdate {
  bool recovery_succeeded = false;
  bool recovery_attempted = true;
  std::optional<std::string> notes;
  std::optional<std::string> recovered_by;
  /// Who made the change, for the audit trail: the API key's name. Without keys there is no
  /// one to name but what the caller wrote, so the stores fall back to `recovered_by`, then
  /// "api".
  std::optional<std::string> actor;
  Micros at = 0;
};

enum class UpdateOutcome { updated, not_found, precondition_failed };

struct RecoveryUpdateResult {
  UpdateOutcome outcome = UpdateOutcome::not_found;
  std::optional<FailureRecord> record;  ///< The row after the update (or the current one on 412).
};

struct CountByKey {
  std::string key;
  std::int64_t count = 0;
};

struct UnmatchedSignature {
  std::string signature;
  std::string error_code;
  std::int64_t count = 0;
  std::string sample_message;
};

struct FailureStats {
  std::int64_t total = 0;
  std::int64_t matched = 0;
  std::int64_t missed = 0;
  std::int64_t recovery_attempted = 0;
  std::int64_t recovery_succeeded = 0;
  std::int64_t recovery_failed = 0;   ///< Attempted, not succeeded.
  std::int64_t recovery_pending = 0;  ///< Not succeeded (whether attempted or not).
  std::map<std::string, std::int64_t> by_category;
  std::map<std::string, std::int64_t> by_severity;
  std::map<std::string, std::int64_t> by_match_type;
  std::vector<CountByKey> top_error_codes;
  std::vector<UnmatchedSignature> top_unmatched;
};

struct StatsQuery {
  std::optional<std::string> tenant_id;
  Micros since = 0;
  std::size_t top_n = 10;
};

struct AggregateQuery {
  std::optional<std::string> tenant_id;
  Micros since = 0;
  std::optional<Micros> until;  ///< Buckets starting before this only.
  std::int64_t limit = 1000;
};

}  // namespace failcat
