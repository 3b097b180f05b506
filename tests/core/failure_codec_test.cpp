#include "core/failure_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace failcat {
namespace {

FailureRecord minimal_record() {
  FailureRecord r;
  r.id = "0190f5c6-8d3e-7a21-9b44-5f0c2d1e8a77";
  r.run_id = "run-1";
  r.tenant_id = "00000000-0000-0000-0000-000000000000";
  r.error_code = "RATE_LIMIT";
  r.created_at = 1'767'225'600'000'000;
  r.updated_at = 1'767'225'600'000'001;
  return r;
}

FailureRecord full_record() {
  FailureRecord r = minimal_record();
  r.error_message = "429 Too Many Requests: retry after 30s";
  r.catalog_entry_id = "provider_rate_limit";
  r.match_type = "exact";
  r.match_confidence = 0.75 * 0.8123;
  r.category = "rate_limit";
  r.severity = "medium";
  r.is_retryable = true;
  r.recovery_mode = "backoff";
  r.recovery_suggestion = "Wait and retry with exponential backoff.";
  r.recovery_attempted = true;
  r.recovery_succeeded = true;
  r.recovered_at = 1'767'229'200'123'456;
  r.recovered_by = "ops@example.com";
  r.recovery_notes = "quota raised";
  r.skill_id = "web.search";
  r.step_index = -3;
  r.context_json = R"({"model":"x","attempt":2})";
  r.idempotency_key = "evt-42";
  return r;
}

void expect_same(const FailureRecord& a, const FailureRecord& b) {
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);  // not part of operator==
}

std::uint64_t bits_of(double d) {
  std::uint64_t b = 0;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

TEST(FailureCodec, RoundTripsAllNull) {
  const FailureRecord r = minimal_record();
  const auto decoded = decode_failure(encode_failure(r));
  ASSERT_TRUE(decoded.has_value());
  expect_same(*decoded, r);
  EXPECT_FALSE(decoded->error_message.has_value());
  EXPECT_FALSE(decoded->match_confidence.has_value());
  EXPECT_FALSE(decoded->idempotency_key.has_value());
}

TEST(FailureCodec, RoundTripsAllSet) {
  const FailureRecord r = full_record();
  const auto decoded = decode_failure(encode_failure(r));
  ASSERT_TRUE(decoded.has_value());
  expect_same(*decoded, r);
  EXPECT_EQ(bits_of(*decoded->match_confidence), bits_of(*r.match_confidence));
}

TEST(FailureCodec, KeepsEmptyStringsDistinctFromNull) {
  FailureRecord r = minimal_record();
  r.error_message = "";
  r.recovery_notes = "";
  r.context_json = "";
  r.idempotency_key = "";
  r.id.clear();
  const auto decoded = decode_failure(encode_failure(r));
  ASSERT_TRUE(decoded.has_value());
  expect_same(*decoded, r);
  ASSERT_TRUE(decoded->error_message.has_value());
  EXPECT_EQ(*decoded->error_message, "");
  EXPECT_FALSE(decoded->catalog_entry_id.has_value());
  ASSERT_TRUE(decoded->idempotency_key.has_value());
}

TEST(FailureCodec, RoundTripsUnicodeAndBinaryBytes) {
  FailureRecord r = full_record();
  r.error_message = "Zeitüberschreitung — 接続がタイムアウトしました 🚨";
  r.recovery_notes = std::string("nul\0inside\xff\xfe", 12);
  r.context_json = R"({"emoji":"🔥","quote":"\"x\""})";
  const auto decoded = decode_failure(encode_failure(r));
  ASSERT_TRUE(decoded.has_value());
  expect_same(*decoded, r);
  EXPECT_EQ(decoded->recovery_notes->size(), 12u);
}

TEST(FailureCodec, RoundTripsExtremeNumbersBitExact) {
  FailureRecord r = full_record();
  r.created_at = std::numeric_limits<Micros>::min();
  r.updated_at = std::numeric_limits<Micros>::max();
  r.recovered_at = -1;
  r.step_index = std::numeric_limits<std::int32_t>::min();
  for (double d :
       {-0.0, 0.0, 1.0 / 3.0, std::numeric_limits<double>::denorm_min(),
        std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    r.match_confidence = d;
    const auto decoded = decode_failure(encode_failure(r));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(bits_of(*decoded->match_confidence), bits_of(d));
    EXPECT_EQ(decoded->created_at, r.created_at);
    EXPECT_EQ(decoded->updated_at, r.updated_at);
    EXPECT_EQ(decoded->recovered_at, r.recovered_at);
    EXPECT_EQ(decoded->step_index, r.step_index);
  }
  r.step_index = std::numeric_limits<std::int32_t>::max();
  EXPECT_EQ(decode_failure(encode_failure(r))->step_index, r.step_index);
}

TEST(FailureCodec, EachBooleanIsIndependent) {
  FailureRecord r = minimal_record();
  for (int mask = 0; mask < 8; ++mask) {
    r.is_retryable = (mask & 1) != 0;
    r.recovery_attempted = (mask & 2) != 0;
    r.recovery_succeeded = (mask & 4) != 0;
    const auto decoded = decode_failure(encode_failure(r));
    ASSERT_TRUE(decoded.has_value());
    expect_same(*decoded, r);
  }
}

TEST(FailureCodec, IsCompact) {
  const std::string bytes = encode_failure(minimal_record());
  // Four strings with one-byte lengths, version, flags, two timestamps.
  EXPECT_LT(bytes.size(), 36u + 5 + 36 + 10 + 8 + 20);
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), kFailureCodecVersion);
}

TEST(FailureCodec, RejectsEveryTruncation) {
  for (const FailureRecord& r : {minimal_record(), full_record()}) {
    const std::string bytes = encode_failure(r);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(decode_failure(std::string_view(bytes).substr(0, n)).has_value()) << n;
    }
  }
}

TEST(FailureCodec, RejectsTrailingBytesUnknownVersionAndFlags) {
  const std::string bytes = encode_failure(full_record());
  EXPECT_FALSE(decode_failure(bytes + '\0').has_value());
  std::string other_version = bytes;
  other_version[0] = 2;
  EXPECT_FALSE(decode_failure(other_version).has_value());
  // The minimal record's flags are the single byte 0; make them 1 << 18 (not a known flag).
  std::string unknown_flag = encode_failure(minimal_record());
  ASSERT_EQ(unknown_flag[1], '\0');
  unknown_flag.replace(1, 1, "\x80\x80\x10");
  EXPECT_FALSE(decode_failure(unknown_flag).has_value());
  unknown_flag.replace(1, 3, "\x80\x80\x08");  // 1 << 17: recovery_succeeded, known
  EXPECT_TRUE(decode_failure(unknown_flag).has_value());
}

TEST(FailureCodec, RejectsLengthsPastTheEndAndOverlongVarints) {
  // version, flags 0, then a string length of 2^63.
  std::string huge_length("\x01\x00", 2);
  huge_length += std::string(9, '\xff') + '\x00';
  EXPECT_FALSE(decode_failure(huge_length).has_value());
  std::string overlong("\x01\x00", 2);
  overlong += std::string(12, '\x80');
  EXPECT_FALSE(decode_failure(overlong).has_value());
}

TEST(FailureCodec, RejectsStepIndexOutsideInt32) {
  FailureRecord probe = minimal_record();
  probe.step_index = std::numeric_limits<std::int32_t>::max();
  const std::string max_bytes = encode_failure(probe);
  ASSERT_TRUE(decode_failure(max_bytes).has_value());
  // 0xfe 0xff 0xff 0xff 0x0f is 2^32-2 (zig-zag of INT32_MAX); bump it to 2^33-2.
  const std::string needle("\xfe\xff\xff\xff\x0f", 5);
  const auto at = max_bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  std::string too_big = max_bytes;
  too_big[at + 4] = '\x1f';
  EXPECT_FALSE(decode_failure(too_big).has_value());
}

TEST(FailureCodec, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(2024);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 300);
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string garbage(static_cast<std::size_t>(length(rng)), '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    if (i % 2 == 0 && !garbage.empty()) garbage[0] = 1;  // get past the version check
    if (decode_failure(garbage).has_value()) ++accepted;
  }
  EXPECT_LT(accepted, 20);
}

TEST(FailureCodec, MutatedEncodingsNeverCrash) {
  std::mt19937_64 rng(7);
  int accepted = 0;
  const std::string bytes = encode_failure(full_record());
  for (int i = 0; i < 20'000; ++i) {
    std::string m = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
    }
    if (decode_failure(m).has_value()) ++accepted;
  }
  // Flips inside string contents decode fine; structural flips must not crash.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace failcat
