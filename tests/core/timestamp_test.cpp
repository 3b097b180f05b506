#include "core/timestamp.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

TEST(Timestamp, FormatsFixedWidthUtc) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339(1'764'484'063'123'456), "2025-11-30T06:27:43.123456Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(Timestamp, RoundTrips) {
  for (Micros t : {Micros{0}, Micros{951'782'400'000'000}, Micros{1'764'484'063'123'456},
                   Micros{4'102'444'799'999'999}}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
  }
}

TEST(Timestamp, ParsesOffsetsAndPostgresText) {
  EXPECT_EQ(parse_rfc3339("2025-11-30T07:27:43+01:00"), parse_rfc3339("2025-11-30T06:27:43Z"));
  EXPECT_EQ(parse_rfc3339("2025-11-30 06:27:43.5+00"), 1'764'484'063'500'000);
  EXPECT_EQ(parse_rfc3339("2025-11-30T06:27:43.123456789Z"), 1'764'484'063'123'456);
}

TEST(Timestamp, RejectsMalformed) {
  for (const char* bad : {"", "2025-11-30", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z",
                          "2025-11-30T24:00:00Z", "2025-11-30T06:27:43", "2025-11-30T06:27:43.Z",
                          "2025-11-30T06:27:43Zjunk", "2025-11-30T06:27:43+25:00"}) {
    EXPECT_EQ(parse_rfc3339(bad), std::nullopt) << bad;
  }
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z").has_value());
}

TEST(Timestamp, FloorsToHour) {
  EXPECT_EQ(floor_hour(kMicrosPerHour + 5), kMicrosPerHour);
  EXPECT_EQ(floor_hour(-5), -kMicrosPerHour);
}

}  // namespace
}  // namespace failcat
