#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/failure_query.hpp"
#include "core/result.hpp"
#include "core/timestamp.hpp"

namespace failcat {

/// Percent-decoded query parameters in arrival order. A value that could not be decoded arrives
/// as kUndecodableQueryValue.
using Query = std::vector<std::pair<std::string, std::string>>;

/// What the HTTP adapter puts in place of a value whose percent-encoding was broken.
inline constexpr std::string_view kUndecodableQueryValue = "\x01invalid";

/// Largest `limit` for lists and for aggregates.
inline constexpr std::int64_t kMaxListLimit = 1000;
inline constexpr std::int64_t kMaxAggregateLimit = 10'000;
/// Largest `offset`; deeper pages use `cursor`.
inline constexpr std::int64_t kMaxListOffset = 1'000'000;

/// `GET /failures`: `tenant_id`, `run_id`, `error_code`, `category`, `status`
/// (`unrecovered|recovered|all`, default all), `since_hours` (1..8760, default 24), `limit`
/// (1..1000, default 100), `offset` (0..1,000,000, default 0), `cursor` (from encode_cursor;
/// sets `after`, and may not be combined with an offset above 0). Every error names the
/// parameter; unknown parameters are rejected, and so is a name given twice in `q` (two
/// spellings of it, `limit` and `limi%74`: the HTTP layer keeps only the first of an exact
/// repeat, so the server never sees one).
Result<ListQuery> parse_list_params(const Query& q, Micros now);

/// `GET /failures/unrecovered`: `tenant_id`, `category`, `since_hours`, `limit`, `offset`, with
/// the list's ranges and defaults.
Result<UnrecoveredQuery> parse_unrecovered_params(const Query& q, Micros now);

/// `GET /failures/stats`: `since_hours` (default 24), `tenant_id`. The window in hours is
/// `(now - since) / kMicrosPerHour`.
Result<StatsQuery> parse_stats_params(const Query& q, Micros now);

/// `GET /aggregates`: `since_hours` (default 24), `tenant_id`, `limit` (1..10000, default 1000).
Result<AggregateQuery> parse_aggregate_params(const Query& q, Micros now);

/// For routes that take no parameters: the first one present is rejected by name.
Status require_no_params(const Query& q);

/// The opaque `cursor` value for a list position: base64url without padding of
/// `<created_at micros>:<id>:<filters digest, 8 lower-case hex digits>`.
std::string encode_cursor(const ListCursor& c);

/// The position a cursor names; nullopt unless `text` is exactly what encode_cursor produces
/// for some position with a canonical lower-case UUID.
std::optional<ListCursor> decode_cursor(std::string_view text);

}  // namespace failcat
