#include "api/api_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>

namespace failcat {
namespace {

const std::string kTenantA = "7f1c0f4e-1b7a-4d55-9a53-5c3b7f2a9e01";

std::string keys_json(const std::string& entries) {
  return "{\"keys\":[" + entries + "]}";
}

std::string entry(const std::string& name, const std::string& key, const std::string& role,
                  const std::string& tenant) {
  return "{\"name\":\"" + name + "\",\"sha256\":\"" + digest_hex(sha256_of(key)) +
         "\",\"role\":\"" + role + "\",\"tenant_id\":\"" + tenant + "\"}";
}

HttpRequest request_for(Access access, std::optional<std::string> authorization) {
  HttpRequest r;
  r.method = "GET";
  r.route = "/api/v1/failures";
  r.access = access;
  r.request_id = "req-1";
  if (authorization) r.headers["authorization"] = *authorization;
  return r;
}

TEST(ApiKeys, Sha256MatchesTheKnownVector) {
  EXPECT_EQ(digest_hex(sha256_of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKeys, GeneratedKeysArePrefixedLongAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto key = generate_api_key();
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->rfind("fc_", 0), 0u);
    EXPECT_EQ(key->size(), 3u + 64u);  // 256 random bits in hex
    EXPECT_TRUE(seen.insert(*key).second);
  }
}

TEST(ApiKeys, ParsesAValidFileAndCanonicalisesTenants) {
  auto keys = parse_api_keys(
      keys_json(entry("ci", "k1", "ingest", "7F1C0F4E-1B7A-4D55-9A53-5C3B7F2A9E01") + "," +
                entry("ops", "k2", "operator", "*") + "," + entry("root", "k3", "admin", "*")));
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0].tenant, kTenantA);
  EXPECT_EQ((*keys)[0].role, Role::ingest);
  EXPECT_FALSE((*keys)[1].tenant.has_value());
  EXPECT_EQ((*keys)[1].role, Role::operator_role);
}

TEST(ApiKeys, EmptyKeyListIsValid) {
  auto keys = parse_api_keys("{\"keys\":[]}");
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->empty());
}

TEST(ApiKeys, AFileOtherUsersMayWriteIsRefused) {
  char path[] = "/tmp/failcat-keys-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = keys_json(entry("ci", "fc_ci", "ingest", kTenantA));
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  for (const mode_t mode : {0600, 0640, 0644, 0400}) {
    ASSERT_EQ(::chmod(path, mode), 0);
    auto keys = load_api_keys_file(path);
    ASSERT_TRUE(keys.ok()) << std::oct << mode << ": " << keys.error().message;
    EXPECT_EQ(keys->size(), 1u);
  }
  for (const mode_t mode : {0620, 0602, 0666}) {
    ASSERT_EQ(::chmod(path, mode), 0);
    auto keys = load_api_keys_file(path);
    ASSERT_FALSE(keys.ok()) << std::oct << mode;
    EXPECT_EQ(keys.error().field, "FAILCAT_API_KEYS_FILE");
    EXPECT_NE(keys.error().message.find("writable by other users"), std::string::npos);
  }
  ::unlink(path);
}

struct BadFile {
  const char* why;
  std::string text;
  const char* expected;  ///< A part of the error message.
};

TEST(ApiKeys, RejectsBadFilesNamingTheEntry) {
  const std::string good = entry("ok", "k0", "reader", "*");
  const std::vector<BadFile> cases = {
      {"not JSON", "{", "not valid JSON"},
      {"no keys array", "{\"keys\":{}}", "\"keys\" array"},
      {"unknown top-level field", "{\"keys\":[],\"extra\":1}", "unknown top-level field"},
      {"bad hex",
       keys_json(good + ",{\"name\":\"ci\",\"sha256\":\"zz" + std::string(62, '0') +
                 "\",\"role\":\"reader\",\"tenant_id\":\"*\"}"),
       "keys[1] \"ci\": sha256"},
      {"short hex",
       keys_json("{\"name\":\"ci\",\"sha256\":\"abcd\",\"role\":\"reader\",\"tenant_id\":\"*\"}"),
       "keys[0] \"ci\": sha256"},
      {"unknown role", keys_json(entry("ci", "k1", "superuser", "*")),
       "keys[0] \"ci\": role must be one of"},
      {"bad tenant", keys_json(entry("ci", "k1", "reader", "tenant-7")),
       "keys[0] \"ci\": tenant_id must be a UUID"},
      {"tenant-bound admin", keys_json(entry("root", "k1", "admin", kTenantA)),
       "keys[0] \"root\": an admin key acts for every tenant"},
      {"duplicate name", keys_json(good + "," + entry("ok", "k9", "reader", "*")),
       "keys[1] \"ok\": duplicate name"},
      {"duplicate key", keys_json(good + "," + entry("other", "k0", "reader", "*")),
       "keys[1] \"other\": the same key"},
      {"unknown field",
       keys_json("{\"name\":\"ci\",\"key\":\"plaintext\",\"sha256\":\"" +
                 digest_hex(sha256_of("x")) + "\",\"role\":\"reader\",\"tenant_id\":\"*\"}"),
       "keys[0] \"ci\": unknown field 'key'"},
      {"bad name", keys_json(entry("has space", "k1", "reader", "*")), "keys[0]: name"},
      {"missing role",
       keys_json("{\"name\":\"ci\",\"sha256\":\"" + digest_hex(sha256_of("x")) +
                 "\",\"tenant_id\":\"*\"}"),
       "keys[0] \"ci\": role must be a string"},
  };
  for (const auto& c : cases) {
    auto keys = parse_api_keys(c.text);
    ASSERT_FALSE(keys.ok()) << c.why;
    EXPECT_NE(keys.error().message.find(c.expected), std::string::npos)
        << c.why << ": " << keys.error().message;
    EXPECT_EQ(keys.error().field, "FAILCAT_API_KEYS_FILE") << c.why;
  }
}

TEST(ApiKeys, RolesMapToAccessAsSpecified) {
  using A = Access;
  const std::vector<std::pair<Role, std::set<Access>>> allowed = {
      {Role::ingest, {A::open, A::ingest}},
      {Role::reader, {A::open, A::read}},
      {Role::operator_role, {A::open, A::read, A::operate}},
      {Role::admin, {A::open, A::ingest, A::read, A::operate, A::admin}},
  };
  for (const auto& [role, set] : allowed) {
    for (Access a : {A::open, A::ingest, A::read, A::operate, A::admin}) {
      EXPECT_EQ(role_allows(role, a), set.count(a) == 1)
          << role_name(role) << " access " << static_cast<int>(a);
    }
  }
}

TEST(ApiKeys, RoleNamesRoundTrip) {
  for (Role r : {Role::ingest, Role::reader, Role::operator_role, Role::admin}) {
    EXPECT_EQ(parse_role(role_name(r)), r);
  }
  EXPECT_FALSE(parse_role("Admin").has_value());
}

TEST(ApiKeySet, AuthenticatesOnlyKnownKeys) {
  auto keys = parse_api_keys(keys_json(entry("ci", "fc_one", "ingest", kTenantA)));
  ASSERT_TRUE(keys.ok());
  ApiKeySet set(std::move(*keys));
  auto who = set.authenticate("fc_one");
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->name, "ci");
  EXPECT_EQ(who->role, Role::ingest);
  EXPECT_EQ(who->tenant, kTenantA);
  EXPECT_FALSE(set.authenticate("fc_two").has_value());
  EXPECT_FALSE(set.authenticate("").has_value());
  EXPECT_FALSE(set.authenticate("fc_one ").has_value());
}

TEST(ApiKeySet, ReplaceSwapsTheWholeSet) {
  ApiKeySet set(*parse_api_keys(keys_json(entry("old", "fc_old", "reader", "*"))));
  set.replace(*parse_api_keys(keys_json(entry("new", "fc_new", "reader", "*"))));
  EXPECT_FALSE(set.authenticate("fc_old").has_value());
  EXPECT_TRUE(set.authenticate("fc_new").has_value());
  EXPECT_EQ(set.size(), 1u);
}

class ApiKeyGate : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keys = parse_api_keys(keys_json(entry("reader-a", "fc_reader", "reader", kTenantA) + "," +
                                         entry("root", "fc_root", "admin", "*")));
    ASSERT_TRUE(keys.ok());
    gate_ = make_api_key_gate(std::make_shared<ApiKeySet>(std::move(*keys)));
  }

  static std::string header(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return {};
  }

  RequestGate gate_;
};

TEST_F(ApiKeyGate, OpenRoutesNeedNoKey) {
  auto r = request_for(Access::open, std::nullopt);
  EXPECT_FALSE(gate_(r).has_value());
  auto bad = request_for(Access::open, "Bearer nonsense");
  EXPECT_FALSE(gate_(bad).has_value());
}

TEST_F(ApiKeyGate, MissingMalformedOrUnknownKeyIs401WithChallenge) {
  for (const std::optional<std::string>& auth :
       {std::optional<std::string>{}, std::optional<std::string>{"fc_reader"},
        std::optional<std::string>{"Basic fc_reader"}, std::optional<std::string>{"Bearer"},
        std::optional<std::string>{"Bearer "}, std::optional<std::string>{"Bearer fc_nope"},
        std::optional<std::string>{"Bearer " + std::string(4096, 'x')}}) {
    auto r = request_for(Access::read, auth);
    auto refused = gate_(r);
    ASSERT_TRUE(refused.has_value()) << auth.value_or("(none)");
    EXPECT_EQ(refused->status, 401);
    EXPECT_EQ(header(*refused, "WWW-Authenticate").rfind("Bearer", 0), 0u);
    EXPECT_EQ(refused->content_type, "application/problem+json");
    if (auth && auth->find("fc_") != std::string::npos) {
      EXPECT_EQ(refused->body.find(auth->substr(auth->find("fc_"))), std::string::npos);
    }
  }
}

TEST_F(ApiKeyGate, KnownKeyWithoutTheRoleIs403) {
  auto r = request_for(Access::operate, "Bearer fc_reader");
  auto refused = gate_(r);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("reader"), std::string::npos);
}

TEST_F(ApiKeyGate, AcceptedKeySetsThePrincipal) {
  auto r = request_for(Access::read, "bearer  fc_reader ");
  EXPECT_FALSE(gate_(r).has_value());
  EXPECT_EQ(r.principal.name, "reader-a");
  EXPECT_EQ(r.principal.role, Role::reader);
  EXPECT_EQ(r.principal.tenant, kTenantA);

  auto admin = request_for(Access::admin, "Bearer fc_root");
  EXPECT_FALSE(gate_(admin).has_value());
  EXPECT_FALSE(admin.principal.tenant.has_value());
}

}  // namespace
}  // namespace failcat
