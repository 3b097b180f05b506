#include "config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace failcat {
namespace {

using Env = std::map<std::string, std::string>;
using Args = std::vector<std::string>;

std::string catalog_path() {
  const char* src = std::getenv("FAILCAT_SOURCE_DIR");
  return std::string(src ? src : ".") + "/config/config.hpp";  // any readable file will do
}

Env base_env() {
  return {{"FAILCAT_CATALOG", catalog_path()}};
}

/// A new file under /tmp holding `content`; the caller unlinks it.
std::string temp_file_with(const std::string& content) {
  char path[] = "/tmp/failcat-config-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return {};
  ::close(fd);
  std::ofstream(path) << content;
  return path;
}

TEST(Config, DefaultsMatchTheSpec) {
  auto config = parse_config(base_env(), {});
  ASSERT_TRUE(config.ok()) << config.error().field << ": " << config.error().message;
  EXPECT_EQ(config->host, "127.0.0.1");
  EXPECT_EQ(config->port, 8080);
  EXPECT_EQ(config->database_url, "");
  EXPECT_EQ(config->sqlite_path, "./data/failcat.db");
  EXPECT_EQ(config->durability, Durability::wal);
  EXPECT_EQ(config->breaker_threshold, 5);
  EXPECT_EQ(config->breaker_reset_seconds, 60);
  EXPECT_DOUBLE_EQ(config->persist_timeout_seconds, 2.0);
  EXPECT_EQ(config->aggregate_interval_seconds, 60);
  EXPECT_EQ(config->retention_days, 30);
  EXPECT_EQ(config->shutdown_grace_seconds, 10);
  EXPECT_EQ(config->log_format, LogFormat::text);
  EXPECT_FALSE(config->allow_insecure);
  EXPECT_DOUBLE_EQ(config->alert_miss_rate, 0.3);
  EXPECT_EQ(config->alert_min_failures, 20);
  EXPECT_EQ(config->alert_cooldown_seconds, 900);
}

TEST(Config, AlertThresholdsAreSettings) {
  Env env = base_env();
  env["FAILCAT_ALERT_MISS_RATE"] = "0.5";
  env["FAILCAT_ALERT_MIN_FAILURES"] = "100";
  auto config = parse_config(env, {"--alert-cooldown-seconds", "60"});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_DOUBLE_EQ(config->alert_miss_rate, 0.5);
  EXPECT_EQ(config->alert_min_failures, 100);
  EXPECT_EQ(config->alert_cooldown_seconds, 60);
}

TEST(Config, FlagsOverrideEnvironment) {
  Env env = base_env();
  env["FAILCAT_PORT"] = "9000";
  env["FAILCAT_DURABILITY"] = "memory";
  auto config =
      parse_config(env, {"--port", "9100", "--breaker-threshold=3", "--log-format", "json"});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->port, 9100);
  EXPECT_EQ(config->durability, Durability::memory);
  EXPECT_EQ(config->breaker_threshold, 3);
  EXPECT_EQ(config->log_format, LogFormat::json);
}

struct BadValue {
  const char* variable;
  const char* value;
};

class ConfigRejects : public ::testing::TestWithParam<BadValue> {};

TEST_P(ConfigRejects, NamesTheVariable) {
  Env env = base_env();
  env[GetParam().variable] = GetParam().value;
  auto config = parse_config(env, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().field, GetParam().variable);
  EXPECT_EQ(config.error().kind, ErrorKind::invalid_argument);
  EXPECT_FALSE(config.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, ConfigRejects,
    ::testing::Values(
        BadValue{"FAILCAT_PORT", "abc"}, BadValue{"FAILCAT_PORT", "70000"},
        BadValue{"FAILCAT_PORT", "80x"}, BadValue{"FAILCAT_BREAKER_THRESHOLD", "0"},
        BadValue{"FAILCAT_BREAKER_RESET_SECONDS", "-1"},
        BadValue{"FAILCAT_PERSIST_TIMEOUT_SECONDS", "fast"},
        BadValue{"FAILCAT_DURABILITY", "sometimes"},
        BadValue{"FAILCAT_CATALOG", "/nonexistent/catalog.json"},
        BadValue{"FAILCAT_LOG_FORMAT", "xml"}, BadValue{"FAILCAT_LOG_LEVEL", "loud"},
        BadValue{"DATABASE_URL", "mysql://x"}, BadValue{"FAILCAT_WAL_MAX_BYTES", "10"},
        BadValue{"FAILCAT_DB_POOL_SIZE", "0"}, BadValue{"FAILCAT_ALLOW_INSECURE", "maybe"},
        BadValue{"FAILCAT_WEBHOOK_URL", "ftp://x"}, BadValue{"FAILCAT_ALERT_MISS_RATE", "0"},
        BadValue{"FAILCAT_ALERT_MISS_RATE", "1.5"}, BadValue{"FAILCAT_ALERT_MIN_FAILURES", "0"},
        BadValue{"FAILCAT_ALERT_COOLDOWN_SECONDS", "soon"},
        BadValue{"FAILCAT_API_KEYS_FILE", "/nonexistent/keys.json"},
        BadValue{"DATABASE_URL_FILE", "/nonexistent/url"}, BadValue{"FAILCAT_PORT", " 80"},
        BadValue{"FAILCAT_PORT", "+80"}, BadValue{"FAILCAT_PERSIST_TIMEOUT_SECONDS", " 2"},
        BadValue{"FAILCAT_HOST", "not a host"}, BadValue{"FAILCAT_HOST", "999.1.1.1"},
        BadValue{"FAILCAT_PERSIST_TIMEOUT_SECONDS", "0x10"},
        BadValue{"FAILCAT_ALERT_MISS_RATE", "0x0.8"}, BadValue{"FAILCAT_ALERT_MISS_RATE", "nan"},
        BadValue{"FAILCAT_HOST", ""}, BadValue{"FAILCAT_HOST", "-h"}),
    [](const auto& info) {
      return std::string(info.param.variable) + "_" + std::to_string(info.index);
    });

TEST(Config, HostsTakeAddressesAndNames) {
  for (const char* host :
       {"127.0.0.1", "0.0.0.0", "::1", "::", "localhost", "failcat-1.internal", "failcat_api"}) {
    auto env = base_env();
    env["FAILCAT_HOST"] = host;
    auto config = parse_config(env, {});
    ASSERT_TRUE(config.ok()) << host << ": " << config.error().message;
    EXPECT_EQ(config->host, host);
  }
}

TEST(Config, UnknownFlagAndMissingValueAreRejected) {
  auto unknown = parse_config(base_env(), {"--colour", "red"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().field, "--colour");
  auto missing = parse_config(base_env(), {"--port"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().field, "--port");
}

TEST(Config, DatabaseUrlFileIsReadAndTrimmed) {
  const auto path = temp_file_with("  postgresql://u:secret@127.0.0.1:5432/db \n");
  ASSERT_FALSE(path.empty());
  Env env = base_env();
  env["DATABASE_URL_FILE"] = path;
  auto config = parse_config(env, {});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->database_url, "postgresql://u:secret@127.0.0.1:5432/db");
  env["DATABASE_URL"] = "postgresql://other";
  auto both = parse_config(env, {});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().field, "DATABASE_URL_FILE");
  ::unlink(path.c_str());
}

TEST(Config, AllowedHostsAreAListOfNames) {
  Env env = base_env();
  env["FAILCAT_ALLOWED_HOSTS"] = "Failcat.Corp, ops.example";
  auto config = parse_config(env, {});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->allowed_hosts, (std::vector<std::string>{"failcat.corp", "ops.example"}));
  for (const char* bad : {"a,,b", "host:8080", "http://x", "*,x", ","}) {
    env["FAILCAT_ALLOWED_HOSTS"] = bad;
    auto refused = parse_config(env, {});
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().field, "FAILCAT_ALLOWED_HOSTS");
  }
  env["FAILCAT_ALLOWED_HOSTS"] = "";
  EXPECT_TRUE(parse_config(env, {})->allowed_hosts.empty());
}

TEST(Config, AWebhookNeedsASecret) {
  Env env = base_env();
  env["FAILCAT_WEBHOOK_URL"] = "https://hooks.example/alerts";
  auto unsigned_hook = parse_config(env, {});
  ASSERT_FALSE(unsigned_hook.ok());
  EXPECT_EQ(unsigned_hook.error().field, "FAILCAT_WEBHOOK_SECRET");
  env["FAILCAT_WEBHOOK_SECRET"] = "s3cret-key";
  auto config = parse_config(env, {});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->webhook_url, "https://hooks.example/alerts");
}

TEST(Config, WebhookSecretFileIsReadAndExclusive) {
  const auto path = temp_file_with("  s3cret-key \n");
  ASSERT_FALSE(path.empty());
  Env env = base_env();
  env["FAILCAT_WEBHOOK_SECRET_FILE"] = path;
  auto config = parse_config(env, {});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->webhook_secret, "s3cret-key");
  env["FAILCAT_WEBHOOK_SECRET"] = "other";
  auto both = parse_config(env, {});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().field, "FAILCAT_WEBHOOK_SECRET_FILE");
  ::unlink(path.c_str());
  env.erase("FAILCAT_WEBHOOK_SECRET");
  auto missing = parse_config(env, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().field, "FAILCAT_WEBHOOK_SECRET_FILE");
}

TEST(Config, HelpListsEveryVariableAndFlag) {
  const auto help = config_help();
  for (const auto& o : config_options()) {
    EXPECT_NE(help.find(o.env), std::string::npos) << o.env;
    EXPECT_NE(help.find(o.flag), std::string::npos) << o.flag;
  }
  for (const char* spec_var : {"FAILCAT_HOST",
                               "FAILCAT_PORT",
                               "DATABASE_URL",
                               "DATABASE_URL_FILE",
                               "FAILCAT_DB_POOL_SIZE",
                               "FAILCAT_CATALOG",
                               "FAILCAT_DURABILITY",
                               "FAILCAT_WAL_DIR",
                               "FAILCAT_WAL_MAX_BYTES",
                               "FAILCAT_BREAKER_THRESHOLD",
                               "FAILCAT_BREAKER_RESET_SECONDS",
                               "FAILCAT_PERSIST_TIMEOUT_SECONDS",
                               "FAILCAT_MAX_INFLIGHT",
                               "FAILCAT_AGGREGATE_INTERVAL_SECONDS",
                               "FAILCAT_RETENTION_DAYS",
                               "FAILCAT_EXPORT_DIR",
                               "FAILCAT_WEBHOOK_URL",
                               "FAILCAT_WEBHOOK_SECRET",
                               "FAILCAT_API_KEYS_FILE",
                               "FAILCAT_LOG_LEVEL",
                               "FAILCAT_LOG_FORMAT",
                               "FAILCAT_SQLITE_PATH"}) {
    EXPECT_NE(help.find(spec_var), std::string::npos) << spec_var;
  }
}

TEST(Config, TheReadmeDocumentsEveryVariable) {
  const char* src = std::getenv("FAILCAT_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "FAILCAT_SOURCE_DIR is set by ctest";
  std::ifstream in(std::string(src) + "/README.md");
  ASSERT_TRUE(in.good());
  const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& o : config_options()) {
    EXPECT_NE(readme.find(std::string("`") + o.env + "`"), std::string::npos) << o.env;
  }
}

}  // namespace
}  // namespace failcat
