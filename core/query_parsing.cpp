#include "core/query_parsing.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <set>

#include "core/request_parsing.hpp"
#include "core/uuid.hpp"

namespace failcat {
namespace {

constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// A cursor holds at most a 20-character integer, a colon and a 36-character UUID.
constexpr std::size_t kMaxCursorChars = 96;

template <std::size_t N>
Status check_names(const Query& q, const std::array<std::string_view, N>& known) {
  std::set<std::string_view> seen;
  for (const auto& [name, value] : q) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return Error::invalid(name, "unknown query parameter '" + name + "'");
    }
    if (!seen.insert(name).second) {
      return Error::invalid(name, "query parameter '" + name + "' is given more than once");
    }
  }
  return ok_status();
}

// The value of `name` (names were already checked to be unique), or nullptr.
const std::string* find(const Query& q, std::string_view name) {
  const auto it =
      std::find_if(q.begin(), q.end(), [&](const auto& param) { return param.first == name; });
  return it == q.end() ? nullptr : &it->second;
}

Status check_decoded(const std::string& name, const std::string& value) {
  if (value == kUndecodableQueryValue) {
    return Error::invalid(name, name + " is not valid percent-encoding");
  }
  return ok_status();
}

Result<std::optional<std::string>> filter_param(const Query& q, const std::string& name) {
  const std::string* value = find(q, name);
  if (value == nullptr) return std::optional<std::string>{};
  if (auto ok = check_decoded(name, *value); !ok) return ok.error();
  auto parsed = parse_filter_value(name, *value);
  if (!parsed) return parsed.error();
  return std::optional<std::string>{std::move(*parsed)};
}

// Only plain decimal digits: no sign, no spaces, no trailing junk.
Result<std::int64_t> int_param(const Query& q, const std::string& name, std::int64_t min,
                               std::int64_t max, std::int64_t fallback) {
  const std::string* value = find(q, name);
  if (value == nullptr) return fallback;
  if (auto ok = check_decoded(name, *value); !ok) return ok.error();
  const Error bad = Error::invalid(name, name + " must be an integer from " + std::to_string(min) +
                                             " to " + std::to_string(max));
  const bool digits = !value->empty() && std::all_of(value->begin(), value->end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return bad;
  std::int64_t n = 0;
  const char* end = value->data() + value->size();
  const auto [ptr, ec] = std::from_chars(value->data(), end, n);
  if (ec != std::errc() || ptr != end || n < min || n > max) return bad;
  return n;
}

Result<Micros> since_param(const Query& q, Micros now) {
  auto hours = int_param(q, "since_hours", 1, kMaxSinceHours, kDefaultSinceHours);
  if (!hours) return hours.error();
  return now - *hours * kMicrosPerHour;
}

/// FNV-1a (32 bits) of the list filters in canonical form; `since_hours` as given (the window
/// moves with the clock, the setting does not).
std::uint32_t filters_digest(const FailureFilter& f, std::int64_t since_hours) {
  std::uint32_t h = 2166136261u;
  const auto mix = [&](std::string_view text) {
    for (unsigned char c : text) {
      h ^= c;
      h *= 16777619u;
    }
    h ^= 0xffu;  // a separator no text holds (valid UTF-8 has no 0xff byte)
    h *= 16777619u;
  };
  for (const auto* value : {&f.tenant_id, &f.run_id, &f.error_code, &f.category}) {
    mix(*value ? "=" + **value : std::string("-"));
  }
  mix(std::to_string(static_cast<int>(f.status)));
  mix(std::to_string(since_hours));
  return h;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64UrlAlphabet[(v >> 18) & 63];
    out += kBase64UrlAlphabet[(v >> 12) & 63];
    out += kBase64UrlAlphabet[(v >> 6) & 63];
    out += kBase64UrlAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kBase64UrlAlphabet[(v >> 18) & 63];
    out += kBase64UrlAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kBase64UrlAlphabet[(v >> 6) & 63];
  }
  return out;
}

// Strict: the alphabet only, no padding, and unused trailing bits zero, so every byte string
// has exactly one accepted spelling.
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const auto pos = kBase64UrlAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

// A canonical decimal integer: optional '-', no leading zeros, no "-0".
std::optional<std::int64_t> parse_canonical_int(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty() || (digits.size() > 1 && digits.front() == '0') || text == "-0") {
    return std::nullopt;
  }
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return n;
}

/// `limit` (1 to kMaxListLimit, default 100) and `offset` (0 to kMaxListOffset, default 0).
Status page_params(const Query& q, std::int64_t& limit, std::int64_t& offset) {
  auto l = int_param(q, "limit", 1, kMaxListLimit, 100);
  if (!l) return l.error();
  auto o = int_param(q, "offset", 0, kMaxListOffset, 0);
  if (!o) return o.error();
  limit = *l;
  offset = *o;
  return ok_status();
}

}  // namespace

Result<ListQuery> parse_list_params(const Query& q, Micros now) {
  static constexpr std::array<std::string_view, 9> kKnown = {"tenant_id", "run_id", "error_code",
                                                             "category",  "status", "since_hours",
                                                             "limit",     "offset", "cursor"};
  if (auto ok = check_names(q, kKnown); !ok) return ok.error();
  ListQuery query;
  FailureFilter& filter = query.filter;
  for (auto [name, target] :
       {std::pair{"tenant_id", &filter.tenant_id}, std::pair{"run_id", &filter.run_id},
        std::pair{"error_code", &filter.error_code}, std::pair{"category", &filter.category}}) {
    auto value = filter_param(q, name);
    if (!value) return value.error();
    *target = std::move(*value);
  }
  if (const std::string* status = find(q, "status")) {
    if (auto ok = check_decoded("status", *status); !ok) return ok.error();
    auto parsed = parse_recovery_status("status", *status);
    if (!parsed) return parsed.error();
    filter.status = *parsed;
  }
  auto since = since_param(q, now);
  if (!since) return since.error();
  filter.since = *since;
  if (auto paged = page_params(q, query.limit, query.offset); !paged) return paged.error();
  query.filters_digest =
      filters_digest(filter, *int_param(q, "since_hours", 1, kMaxSinceHours, kDefaultSinceHours));
  if (const std::string* cursor = find(q, "cursor")) {
    if (auto ok = check_decoded("cursor", *cursor); !ok) return ok.error();
    query.after = decode_cursor(*cursor);
    if (!query.after) return Error::invalid("cursor", "cursor is not a valid list cursor");
    if (query.after->filters != query.filters_digest) {
      return Error::invalid("cursor",
                            "cursor was issued for other filters: page these from the start");
    }
    if (query.offset > 0) {
      return Error::invalid("cursor", "cursor cannot be combined with an offset above 0");
    }
  }
  return query;
}

Result<UnrecoveredQuery> parse_unrecovered_params(const Query& q, Micros now) {
  static constexpr std::array<std::string_view, 5> kKnown = {"tenant_id", "category", "since_hours",
                                                             "limit", "offset"};
  if (auto ok = check_names(q, kKnown); !ok) return ok.error();
  UnrecoveredQuery query;
  auto tenant = filter_param(q, "tenant_id");
  if (!tenant) return tenant.error();
  query.tenant_id = std::move(*tenant);
  auto category = filter_param(q, "category");
  if (!category) return category.error();
  query.category = std::move(*category);
  auto since = since_param(q, now);
  if (!since) return since.error();
  query.since = *since;
  if (auto paged = page_params(q, query.limit, query.offset); !paged) return paged.error();
  return query;
}

Result<StatsQuery> parse_stats_params(const Query& q, Micros now) {
  static constexpr std::array<std::string_view, 2> kKnown = {"since_hours", "tenant_id"};
  if (auto ok = check_names(q, kKnown); !ok) return ok.error();
  StatsQuery query;
  auto since = since_param(q, now);
  if (!since) return since.error();
  query.since = *since;
  auto tenant = filter_param(q, "tenant_id");
  if (!tenant) return tenant.error();
  query.tenant_id = std::move(*tenant);
  return query;
}

Result<AggregateQuery> parse_aggregate_params(const Query& q, Micros now) {
  static constexpr std::array<std::string_view, 3> kKnown = {"since_hours", "tenant_id", "limit"};
  if (auto ok = check_names(q, kKnown); !ok) return ok.error();
  AggregateQuery query;
  auto since = since_param(q, now);
  if (!since) return since.error();
  query.since = *since;
  auto tenant = filter_param(q, "tenant_id");
  if (!tenant) return tenant.error();
  query.tenant_id = std::move(*tenant);
  auto limit = int_param(q, "limit", 1, kMaxAggregateLimit, 1000);
  if (!limit) return limit.error();
  query.limit = *limit;
  return query;
}

Status require_no_params(const Query& q) {
  return check_names(q, std::array<std::string_view, 0>{});
}

std::string encode_cursor(const ListCursor& c) {
  char digest[9];
  std::snprintf(digest, sizeof digest, "%08x", c.filters);
  return base64url_encode(std::to_string(c.created_at) + ":" + c.id + ":" + digest);
}

std::optional<ListCursor> decode_cursor(std::string_view text) {
  if (text.empty() || text.size() > kMaxCursorChars) return std::nullopt;
  const auto payload = base64url_decode(text);
  if (!payload) return std::nullopt;
  const auto colon = payload->find(':');
  if (colon == std::string::npos) return std::nullopt;
  const auto created_at = parse_canonical_int(std::string_view(*payload).substr(0, colon));
  // Years 1 to 9999, as RFC 3339 and both stores write them: an edited cursor beyond them is
  // a bad cursor, not a timestamp PostgreSQL refuses (a 503) while SQLite compares it as text.
  constexpr std::int64_t kYear1 = -62'135'596'800 * kMicrosPerSecond;
  constexpr std::int64_t kYear10000 = 253'402'300'800 * kMicrosPerSecond;
  if (!created_at || *created_at < kYear1 || *created_at >= kYear10000) return std::nullopt;
  const auto second = payload->find(':', colon + 1);
  if (second == std::string::npos) return std::nullopt;
  std::string id = payload->substr(colon + 1, second - colon - 1);
  const auto canonical = canonical_uuid(id);
  if (!canonical || *canonical != id) return std::nullopt;
  const std::string_view digest = std::string_view(*payload).substr(second + 1);
  if (digest.size() != 8) return std::nullopt;
  std::uint32_t filters = 0;
  for (char c : digest) {
    const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return std::nullopt;
    filters = filters << 4 | static_cast<std::uint32_t>(v);
  }
  return ListCursor{*created_at, std::move(id), filters};
}

}  // namespace failcat
