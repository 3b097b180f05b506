#include "core/miss_rate_alert.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace failcat {
namespace {

FailureStats stats(std::int64_t total, std::int64_t missed) {
  FailureStats s;
  s.total = total;
  s.missed = missed;
  s.matched = total - missed;
  s.top_unmatched.push_back({"timeout after <num>ms", "TOOL_X", missed, "timeout after 3ms"});
  return s;
}

TEST(MissRateAlert, FiresAtThresholdWithEnoughVolume) {
  MissRateAlert alert({0.3, 20, 60 * kMicrosPerSecond});
  EXPECT_FALSE(alert.evaluate(stats(19, 19), 1, 0).has_value());   // too few
  EXPECT_FALSE(alert.evaluate(stats(100, 29), 1, 0).has_value());  // 29 % < 30 %
  auto body = alert.evaluate(stats(100, 30), 1, 0);
  ASSERT_TRUE(body.has_value());
  const auto json = nlohmann::json::parse(*body);
  const auto text = json.at("text").get<std::string>();
  EXPECT_NE(text.find("30.0%"), std::string::npos);
  EXPECT_NE(text.find("TOOL_X"), std::string::npos);
}

TEST(MissRateAlert, CooldownSilencesRepeatsThenAllowsAgain) {
  MissRateAlert alert({0.3, 20, 60 * kMicrosPerSecond});
  ASSERT_TRUE(alert.evaluate(stats(100, 90), 1, 0).has_value());
  alert.delivered(0);
  EXPECT_FALSE(alert.evaluate(stats(100, 90), 1, 59 * kMicrosPerSecond).has_value());
  EXPECT_TRUE(alert.evaluate(stats(100, 90), 1, 60 * kMicrosPerSecond).has_value());
}

TEST(MissRateAlert, AnAlertNotDeliveredFiresAgainBackingOff) {
  constexpr Micros kMinute = 60 * kMicrosPerSecond;
  MissRateAlert alert({0.3, 20, 15 * kMinute});
  Micros t = 0;
  ASSERT_TRUE(alert.evaluate(stats(100, 90), 1, t).has_value());
  // Not taken: no cooldown, but not every run either: 1, 2, 4, 8 minutes, then the cooldown.
  for (const Micros wait :
       {1 * kMinute, 2 * kMinute, 4 * kMinute, 8 * kMinute, 15 * kMinute, 15 * kMinute}) {
    alert.not_delivered(t);
    EXPECT_FALSE(alert.evaluate(stats(100, 90), 1, t + wait - 1).has_value()) << wait;
    ASSERT_TRUE(alert.evaluate(stats(100, 90), 1, t + wait).has_value()) << wait;
    t += wait;
  }
  alert.delivered(t);  // taken at last: the cooldown, then the alert may fire again
  EXPECT_FALSE(alert.evaluate(stats(100, 90), 1, t + 15 * kMinute - 1).has_value());
  EXPECT_TRUE(alert.evaluate(stats(100, 90), 1, t + 15 * kMinute).has_value());
}

TEST(MissRateAlert, ValuesFromFailuresCannotUseSlackMarkup) {
  MissRateAlert alert({0.3, 20, 60 * kMicrosPerSecond});
  FailureStats s = stats(100, 90);
  s.top_unmatched[0].error_code = "<!channel> <https://evil.example|Rotate your key> & more";
  s.top_unmatched[0].signature = "<@U123> said <b>";
  const auto body = alert.evaluate(s, 1, 0);
  ASSERT_TRUE(body.has_value());
  const auto text = nlohmann::json::parse(*body).at("text").get<std::string>();
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  EXPECT_EQ(text.find('>'), std::string::npos) << text;
  EXPECT_NE(text.find("&lt;!channel&gt; &lt;https://evil.example|Rotate your key&gt; &amp; more"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("&lt;@U123&gt; said &lt;b&gt;"), std::string::npos) << text;
}

}  // namespace
}  // namespace failcat
