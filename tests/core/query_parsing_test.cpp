#include "core/query_parsing.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace failcat {
namespace {

constexpr Micros kNow = 1'767'225'600 * kMicrosPerSecond;
const std::string kId = "0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";

template <class T>
std::string field_of(const Result<T>& result) {
  if (result.ok()) return "<ok>";
  EXPECT_EQ(result.error().kind, ErrorKind::invalid_argument);
  EXPECT_FALSE(result.error().message.empty());
  return result.error().field;
}

std::string list_field(const Query& q) {
  return field_of(parse_list_params(q, kNow));
}

TEST(ListParams, Defaults) {
  const auto q = parse_list_params({}, kNow);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->limit, 100);
  EXPECT_EQ(q->offset, 0);
  EXPECT_FALSE(q->after);
  EXPECT_EQ(q->filter.status, RecoveryStatus::all);
  EXPECT_EQ(q->filter.since, kNow - 24 * kMicrosPerHour);
  EXPECT_FALSE(q->filter.tenant_id);
  EXPECT_FALSE(q->filter.run_id);
  EXPECT_FALSE(q->filter.error_code);
  EXPECT_FALSE(q->filter.category);
}

TEST(ListParams, ReadsEveryParameter) {
  const auto q = parse_list_params({{"tenant_id", "0196A3B0-1C2D-7E3F-8A4B-5C6D7E8F9A0B"},
                                    {"run_id", "run-1"},
                                    {"error_code", " HTTP_429 "},
                                    {"category", "rate_limit"},
                                    {"status", "recovered"},
                                    {"since_hours", "8760"},
                                    {"limit", "1000"},
                                    {"offset", "1000000"}},
                                   kNow);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->filter.tenant_id, kId);
  EXPECT_EQ(q->filter.run_id, "run-1");
  EXPECT_EQ(q->filter.error_code, "HTTP_429");
  EXPECT_EQ(q->filter.category, "rate_limit");
  EXPECT_EQ(q->filter.status, RecoveryStatus::recovered);
  EXPECT_EQ(q->filter.since, kNow - 8760 * kMicrosPerHour);
  EXPECT_EQ(q->limit, 1000);
  EXPECT_EQ(q->offset, 1'000'000);
  EXPECT_EQ(parse_list_params({{"status", "unrecovered"}}, kNow)->filter.status,
            RecoveryStatus::unrecovered);
  EXPECT_EQ(parse_list_params({{"limit", "1"}, {"since_hours", "1"}}, kNow)->limit, 1);
}

TEST(ListParams, UnknownAndRepeatedParametersAreNamed) {
  EXPECT_EQ(list_field({{"limt", "10"}}), "limt");
  EXPECT_EQ(list_field({{"limit", "10"}, {"limit", "20"}}), "limit");
  EXPECT_EQ(list_field({{"page", "2"}}), "page");
  const auto r = parse_list_params({{"sort", "asc"}}, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("sort"), std::string::npos);
}

TEST(ListParams, LimitOutOfRange) {
  for (const char* bad : {"0", "1001", "-1", "abc", "10x", "", " 10", "+10", "1e2", "10.0",
                          "99999999999999999999999"}) {
    EXPECT_EQ(list_field({{"limit", bad}}), "limit") << bad;
  }
  EXPECT_EQ(parse_list_params({{"limit", "010"}}, kNow)->limit, 10);
}

TEST(ListParams, SinceHoursAndOffsetOutOfRange) {
  EXPECT_EQ(list_field({{"since_hours", "0"}}), "since_hours");
  EXPECT_EQ(list_field({{"since_hours", "8761"}}), "since_hours");
  EXPECT_EQ(list_field({{"since_hours", "-24"}}), "since_hours");
  EXPECT_EQ(list_field({{"offset", "-1"}}), "offset");
  EXPECT_EQ(list_field({{"offset", "1000001"}}), "offset");
  EXPECT_EQ(list_field({{"offset", "x"}}), "offset");
}

TEST(ListParams, BadFilterValuesAreNamed) {
  EXPECT_EQ(list_field({{"tenant_id", "acme"}}), "tenant_id");
  EXPECT_EQ(list_field({{"tenant_id", ""}}), "tenant_id");
  EXPECT_EQ(list_field({{"status", "open"}}), "status");
  EXPECT_EQ(list_field({{"status", ""}}), "status");
  EXPECT_EQ(list_field({{"run_id", ""}}), "run_id");
  EXPECT_EQ(list_field({{"run_id", std::string(256, 'r')}}), "run_id");
  EXPECT_EQ(list_field({{"error_code", "   "}}), "error_code");
  EXPECT_EQ(list_field({{"category", std::string(51, 'c')}}), "category");
  EXPECT_EQ(list_field({{"run_id", std::string("a\0b", 3)}}), "run_id");
}

TEST(ListParams, UndecodableValueIsInvalid) {
  EXPECT_EQ(list_field({{"limit", "\x01invalid"}}), "limit");
  EXPECT_EQ(list_field({{"run_id", "\x01invalid"}}), "run_id");
  EXPECT_EQ(list_field({{"status", "\x01invalid"}}), "status");
  EXPECT_EQ(list_field({{"cursor", "\x01invalid"}}), "cursor");
}

/// The digest a next-page cursor of a list with these parameters carries.
std::uint32_t digest_of(const Query& params) {
  const auto q = parse_list_params(params, kNow);
  EXPECT_TRUE(q.ok());
  return q.ok() ? q->filters_digest : 0;
}

TEST(ListParams, CursorSetsAfter) {
  const ListCursor position{1'767'225'600'123'456, kId, digest_of({})};
  const auto q = parse_list_params({{"cursor", encode_cursor(position)}, {"offset", "0"}}, kNow);
  ASSERT_TRUE(q.ok()) << q.error().message;
  ASSERT_TRUE(q->after);
  EXPECT_EQ(q->after->created_at, position.created_at);
  EXPECT_EQ(q->after->id, kId);
}

// A cursor pages the filters it was issued for: with others it is refused, not misread.
TEST(ListParams, ACursorIsBoundToItsFilters) {
  const Query run_r = {{"run_id", "r"}, {"since_hours", "48"}};
  const ListCursor position{5, kId, digest_of(run_r)};
  Query same = run_r;
  same.emplace_back("cursor", encode_cursor(position));
  same.emplace_back("limit", "7");  // the page size is free
  EXPECT_TRUE(parse_list_params(same, kNow).ok());
  for (const Query& other : {Query{{"run_id", "r1"}, {"since_hours", "48"}}, Query{{"run_id", "r"}},
                             Query{{"run_id", "r"}, {"since_hours", "48"}, {"status", "recovered"}},
                             Query{{"run_id", "r"}, {"since_hours", "48"}, {"category", "auth"}},
                             Query{{"since_hours", "48"}, {"error_code", "r"}}, Query{}}) {
    Query with = other;
    with.emplace_back("cursor", encode_cursor(position));
    EXPECT_EQ(list_field(with), "cursor");
  }
  // Digests differ where the filters do (and only there).
  EXPECT_NE(digest_of({{"run_id", "ab"}}), digest_of({{"run_id", "a"}, {"error_code", "b"}}));
  EXPECT_EQ(digest_of({{"status", "all"}}), digest_of({}));
  EXPECT_EQ(digest_of({{"error_code", " E "}}), digest_of({{"error_code", "E"}}));
}

TEST(ListParams, CursorGarbageAndOffsetAreRejected) {
  EXPECT_EQ(list_field({{"cursor", "garbage!"}}), "cursor");
  EXPECT_EQ(list_field({{"cursor", ""}}), "cursor");
  // A cursor for these filters, alone accepted: with an offset, refused for the offset.
  const std::string cursor = encode_cursor({5, kId, digest_of({})});
  EXPECT_EQ(list_field({{"cursor", cursor}}), "<ok>");
  EXPECT_EQ(list_field({{"cursor", cursor}, {"offset", "10"}}), "cursor");
  EXPECT_EQ(list_field({{"offset", "10"}, {"cursor", cursor}}), "cursor");
  EXPECT_EQ(list_field({{"cursor", cursor}, {"offset", "0"}}), "<ok>");
}

TEST(Cursor, RoundTrips) {
  const Micros year1 = -62'135'596'800 * kMicrosPerSecond;
  const Micros year10000 = 253'402'300'800 * kMicrosPerSecond;
  for (const Micros t :
       {Micros{0}, Micros{1}, Micros{-5}, Micros{1'767'225'600'123'456}, year1, year10000 - 1}) {
    const std::string text = encode_cursor({t, kId, 0xfedcba98});
    EXPECT_EQ(
        text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos)
        << text;
    const auto back = decode_cursor(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(back->created_at, t);
    EXPECT_EQ(back->id, kId);
    EXPECT_EQ(back->filters, 0xfedcba98u);
  }
}

// Standard base64 of the payload, turned into the URL alphabet without padding.
std::string b64(const std::string& payload) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  int bits = 0;
  unsigned buffer = 0;
  for (unsigned char c : payload) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(buffer >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 63];
  return out;
}

TEST(Cursor, EncodesTheDocumentedPayload) {
  EXPECT_EQ(encode_cursor({42, kId, 0x00c0ffee}), b64("42:" + kId + ":00c0ffee"));
  const auto back = decode_cursor(b64("42:" + kId + ":00c0ffee"));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->filters, 0x00c0ffeeu);
}

TEST(Cursor, DecodingIsStrict) {
  EXPECT_FALSE(decode_cursor(""));
  EXPECT_FALSE(decode_cursor("!!!!"));
  EXPECT_FALSE(decode_cursor(encode_cursor({42, kId}) + "="));
  EXPECT_FALSE(decode_cursor(encode_cursor({42, kId}) + "A"));
  EXPECT_FALSE(decode_cursor(std::string(1000, 'A')));
  const std::string d = ":00000000";
  EXPECT_TRUE(decode_cursor(b64("42:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("42")));
  EXPECT_FALSE(decode_cursor(b64("42:" + kId)));  // no digest of the filters
  EXPECT_FALSE(decode_cursor(b64(":" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("x:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("+42:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("042:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("-0:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("99999999999999999999:" + kId + d)));
  // Times no RFC 3339 year holds (PostgreSQL refuses them, SQLite would compare text).
  EXPECT_FALSE(decode_cursor(b64("-9223372036854775808:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("9223372036854775807:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("-62135596800000001:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("253402300800000000:" + kId + d)));
  EXPECT_FALSE(decode_cursor(b64("42:not-a-uuid" + d)));
  EXPECT_FALSE(decode_cursor(b64("42:0196A3B0-1C2D-7E3F-8A4B-5C6D7E8F9A0B" + d)));
  EXPECT_FALSE(decode_cursor(b64("42:" + kId + ":1")));
  EXPECT_FALSE(decode_cursor(b64("42:" + kId + ":0000000G")));
  EXPECT_FALSE(decode_cursor(b64("42:" + kId + ":00C0FFEE")));
  EXPECT_FALSE(decode_cursor(b64("42:" + kId + d + ":1")));
  EXPECT_FALSE(decode_cursor(b64("42: " + kId + d)));
  // Standard-alphabet characters are not base64url.
  for (const char c : {'+', '/', '=', '.'}) {
    std::string text = encode_cursor({42, kId});
    text[5] = c;
    EXPECT_FALSE(decode_cursor(text)) << c;
  }
}

TEST(Cursor, NonZeroTrailingBitsAreRejected) {
  // "420:<uuid>:<digest>" is 49 bytes, so the last character carries 4 unused bits; setting one
  // of them would decode to the same payload and must still be refused.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string text = encode_cursor({420, kId});
  ASSERT_TRUE(decode_cursor(text));
  text.back() = alphabet[alphabet.find(text.back()) ^ 1];
  EXPECT_FALSE(decode_cursor(text));
}

TEST(UnrecoveredParams, ReadsAndValidates) {
  const auto q = parse_unrecovered_params({{"tenant_id", kId},
                                           {"category", "auth"},
                                           {"since_hours", "2"},
                                           {"limit", "5"},
                                           {"offset", "10"}},
                                          kNow);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->tenant_id, kId);
  EXPECT_EQ(q->category, "auth");
  EXPECT_EQ(q->since, kNow - 2 * kMicrosPerHour);
  EXPECT_EQ(q->limit, 5);
  EXPECT_EQ(q->offset, 10);
  const auto defaults = parse_unrecovered_params({}, kNow);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->since, kNow - 24 * kMicrosPerHour);
  EXPECT_EQ(defaults->limit, 100);
  EXPECT_EQ(field_of(parse_unrecovered_params({{"status", "all"}}, kNow)), "status");
  EXPECT_EQ(field_of(parse_unrecovered_params({{"limit", "0"}}, kNow)), "limit");
  EXPECT_EQ(field_of(parse_unrecovered_params({{"cursor", "x"}}, kNow)), "cursor");
}

TEST(StatsParams, ReadsAndValidates) {
  const auto q = parse_stats_params({{"since_hours", "168"}, {"tenant_id", kId}}, kNow);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->since, kNow - 168 * kMicrosPerHour);
  EXPECT_EQ(q->tenant_id, kId);
  EXPECT_EQ(parse_stats_params({}, kNow)->since, kNow - 24 * kMicrosPerHour);
  EXPECT_EQ(field_of(parse_stats_params({{"limit", "5"}}, kNow)), "limit");
  EXPECT_EQ(field_of(parse_stats_params({{"since_hours", "8761"}}, kNow)), "since_hours");
  EXPECT_EQ(field_of(parse_stats_params({{"tenant_id", "x"}}, kNow)), "tenant_id");
}

TEST(AggregateParams, ReadsAndValidates) {
  const auto q = parse_aggregate_params({{"limit", "10000"}, {"tenant_id", kId}}, kNow);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->limit, 10'000);
  EXPECT_EQ(q->since, kNow - 24 * kMicrosPerHour);
  EXPECT_EQ(parse_aggregate_params({}, kNow)->limit, 1000);
  EXPECT_EQ(field_of(parse_aggregate_params({{"limit", "10001"}}, kNow)), "limit");
  EXPECT_EQ(field_of(parse_aggregate_params({{"limit", "0"}}, kNow)), "limit");
  EXPECT_EQ(field_of(parse_aggregate_params({{"offset", "0"}}, kNow)), "offset");
  EXPECT_EQ(field_of(parse_aggregate_params({{"since_hours", "1"}, {"since_hours", "2"}}, kNow)),
            "since_hours");
}

TEST(NoParams, RejectsAnyParameter) {
  EXPECT_TRUE(require_no_params({}).ok());
  EXPECT_EQ(field_of(require_no_params({{"verbose", "1"}})), "verbose");
}

}  // namespace
}  // namespace failcat
