#include "api/api_keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "api/problem.hpp"
#include "core/uuid.hpp"

namespace failcat {
namespace {

constexpr std::size_t kKeyRandomBytes = 32;
constexpr std::size_t kMaxNameBytes = 100;  // names become `recovered_by` (VARCHAR(100))
/// Longer Authorization values are refused before hashing.
constexpr std::size_t kMaxPresentedKeyBytes = 512;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<KeyDigest> parse_digest_hex(std::string_view hex) {
  KeyDigest out{};
  if (hex.size() != out.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return out;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '@' || c == ':';
    if (!ok) return false;
  }
  return true;
}

/// `keys[i] "name"` (or just `keys[i]` before the name is known), for error messages.
std::string entry_label(std::size_t index, const nlohmann::json& entry) {
  std::string label = "keys[" + std::to_string(index) + "]";
  if (entry.is_object()) {
    const auto it = entry.find("name");
    if (it != entry.end() && it->is_string() && valid_name(it->get_ref<const std::string&>())) {
      label += " \"" + it->get<std::string>() + "\"";
    }
  }
  return label;
}

Error bad_entry(const std::string& label, const std::string& why) {
  return Error::invalid("FAILCAT_API_KEYS_FILE", label + ": " + why);
}

Result<ApiKeyEntry> parse_entry(std::size_t index, const nlohmann::json& entry) {
  const std::string label = entry_label(index, entry);
  if (!entry.is_object()) return bad_entry(label, "must be an object");
  static const std::set<std::string> kKnown = {"name", "sha256", "role", "tenant_id", "created_at"};
  for (const auto& [field, value] : entry.items()) {
    if (kKnown.count(field) == 0) return bad_entry(label, "unknown field '" + field + "'");
  }
  const auto text_field = [&](const char* field) -> Result<std::string> {
    const auto it = entry.find(field);
    if (it == entry.end() || !it->is_string()) {
      return bad_entry(label, std::string(field) + " must be a string");
    }
    return it->get<std::string>();
  };

  ApiKeyEntry out;
  auto name = text_field("name");
  if (!name) return name.error();
  if (!valid_name(*name)) {
    return bad_entry(label, "name must be 1 to 100 of [A-Za-z0-9._@:-]");
  }
  out.name = std::move(*name);

  auto hex = text_field("sha256");
  if (!hex) return hex.error();
  auto digest = parse_digest_hex(*hex);
  if (!digest) return bad_entry(label, "sha256 must be 64 hexadecimal digits");
  out.sha256 = *digest;

  auto role_text = text_field("role");
  if (!role_text) return role_text.error();
  auto role = parse_role(*role_text);
  if (!role) {
    return bad_entry(label, "role must be one of ingest, reader, operator, admin (not '" +
                                role_text->substr(0, 32) + "')");
  }
  out.role = *role;

  auto tenant = text_field("tenant_id");
  if (!tenant) return tenant.error();
  if (*tenant != "*") {
    auto canonical = canonical_uuid(*tenant);
    if (!canonical) return bad_entry(label, "tenant_id must be a UUID or \"*\"");
    if (out.role == Role::admin) {
      return bad_entry(label, "an admin key acts for every tenant; tenant_id must be \"*\"");
    }
    out.tenant = std::move(*canonical);
  }
  if (const auto it = entry.find("created_at"); it != entry.end() && !it->is_string()) {
    return bad_entry(label, "created_at must be a string");
  }
  return out;
}

HttpResponse unauthorized(const HttpRequest& request, std::string_view detail) {
  auto response = problem_response(401, detail, request.request_id);
  response.with_header("WWW-Authenticate", "Bearer realm=\"failcat\"");
  return response;
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  std::string_view rest = header.substr(kScheme.size());
  if (rest.front() != ' ' && rest.front() != '\t') return std::nullopt;
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;
  return rest;
}

}  // namespace

bool valid_key_name(std::string_view name) {
  return valid_name(name);
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::ingest:
      return "ingest";
    case Role::reader:
      return "reader";
    case Role::operator_role:
      return "operator";
    case Role::admin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view text) {
  for (Role r : {Role::ingest, Role::reader, Role::operator_role, Role::admin}) {
    if (role_name(r) == text) return r;
  }
  return std::nullopt;
}

bool role_allows(Role role, Access access) {
  switch (access) {
    case Access::open:
      return true;
    case Access::ingest:
      return role == Role::ingest || role == Role::admin;
    case Access::read:
      return role == Role::reader || role == Role::operator_role || role == Role::admin;
    case Access::operate:
      return role == Role::operator_role || role == Role::admin;
    case Access::admin:
      return role == Role::admin;
  }
  return false;
}

KeyDigest sha256_of(std::string_view data) {
  KeyDigest out{};
  unsigned int length = 0;
  // EVP_Digest fails only on allocation failure; a zero digest then matches no stored key.
  if (EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != out.size()) {
    out.fill(0);
  }
  return out;
}

std::string digest_hex(const KeyDigest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

Result<std::string> generate_api_key() {
  std::array<unsigned char, kKeyRandomBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Error::unavailable("the system random number generator failed");
  }
  KeyDigest as_digest{};
  static_assert(as_digest.size() == kKeyRandomBytes);
  std::copy(bytes.begin(), bytes.end(), as_digest.begin());
  std::string key = std::string(kApiKeyPrefix) + digest_hex(as_digest);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  OPENSSL_cleanse(as_digest.data(), as_digest.size());
  return key;
}

Result<std::vector<ApiKeyEntry>> parse_api_keys(std::string_view json_text) {
  auto doc = nlohmann::json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (doc.is_discarded()) return Error::invalid("FAILCAT_API_KEYS_FILE", "is not valid JSON");
  if (!doc.is_object()) {
    return Error::invalid("FAILCAT_API_KEYS_FILE", "must be an object with a \"keys\" array");
  }
  for (const auto& [field, value] : doc.items()) {
    if (field != "keys") {
      return Error::invalid("FAILCAT_API_KEYS_FILE", "unknown top-level field '" + field + "'");
    }
  }
  const auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) {
    return Error::invalid("FAILCAT_API_KEYS_FILE", "must be an object with a \"keys\" array");
  }
  std::vector<ApiKeyEntry> out;
  std::set<std::string> names;
  std::set<KeyDigest> digests;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    auto entry = parse_entry(i, (*keys)[i]);
    if (!entry) return entry.error();
    const std::string label = entry_label(i, (*keys)[i]);
    if (!names.insert(entry->name).second) return bad_entry(label, "duplicate name");
    if (!digests.insert(entry->sha256).second) {
      return bad_entry(label, "the same key (sha256) is listed twice");
    }
    out.push_back(std::move(*entry));
  }
  return out;
}

Result<std::vector<ApiKeyEntry>> load_api_keys_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    // Whoever can write the file can add an admin key.
    return Error::invalid("FAILCAT_API_KEYS_FILE",
                          path + " is writable by other users; chmod go-w it (600)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::invalid("FAILCAT_API_KEYS_FILE", "cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  auto keys = parse_api_keys(text.str());
  if (!keys) {
    return Error::invalid("FAILCAT_API_KEYS_FILE", path + ": " + keys.error().message);
  }
  return keys;
}

ApiKeySet::ApiKeySet(std::vector<ApiKeyEntry> keys)
    : keys_(std::make_shared<const Entries>(std::move(keys))) {}

void ApiKeySet::replace(std::vector<ApiKeyEntry> keys) {
  auto next = std::make_shared<const Entries>(std::move(keys));
  std::lock_guard<std::mutex> lock(mutex_);
  keys_ = std::move(next);
}

std::size_t ApiKeySet::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return keys_->size();
}

std::optional<Principal> ApiKeySet::authenticate(std::string_view presented_key) const {
  std::shared_ptr<const Entries> keys;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    keys = keys_;
  }
  const KeyDigest digest = sha256_of(presented_key);
  // Every entry is compared, in constant time, so timing says nothing about which matched.
  const ApiKeyEntry* found = nullptr;
  for (const auto& entry : *keys) {
    const bool same = CRYPTO_memcmp(entry.sha256.data(), digest.data(), digest.size()) == 0;
    if (same) found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  Principal principal;
  principal.name = found->name;
  principal.key = true;
  principal.role = found->role;
  principal.tenant = found->tenant;
  return principal;
}

RequestGate make_api_key_gate(std::shared_ptr<const ApiKeySet> keys) {
  return [keys = std::move(keys)](HttpRequest& request) -> std::optional<HttpResponse> {
    if (request.access == Access::open) {
      request.principal.name = "anonymous";  // for the access log; open routes ignore it
      return std::nullopt;
    }
    const auto header = request.header("authorization");
    if (!header)
      return unauthorized(request, "this route needs an API key (Authorization: Bearer)");
    const auto token = bearer_token(*header);
    if (!token) return unauthorized(request, "the Authorization header must be 'Bearer <key>'");
    if (token->size() > kMaxPresentedKeyBytes) return unauthorized(request, "unknown API key");
    auto principal = keys->authenticate(*token);
    if (!principal) return unauthorized(request, "unknown API key");
    if (!role_allows(principal->role, request.access)) {
      return problem_response(403,
                              "the " + std::string(role_name(principal->role)) +
                                  " role may not call " + request.method + " " + request.route,
                              request.request_id);
    }
    request.principal = std::move(*principal);
    return std::nullopt;
  };
}

}  // namespace failcat
