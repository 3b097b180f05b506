#pragma once
// API keys (SPEC §9): the keys file, key hashing and generation, what each role may do, and the
// request gate that turns an `Authorization: Bearer …` header into a Principal.

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.hpp"
#include "api/http_types.hpp"
#include "core/result.hpp"

namespace failcat {

/// Prefix of every generated key, so a leaked key is recognisable (secret scanners, logs).
inline constexpr std::string_view kApiKeyPrefix = "fc_";

/// SHA-256 digest of a key.
using KeyDigest = std::array<unsigned char, 32>;

/// One entry of the keys file. Only the digest of the key is ever held.
struct ApiKeyEntry {
  std::string name;
  KeyDigest sha256{};
  Role role = Role::reader;
  std::optional<std::string> tenant;  ///< Canonical UUID; nullopt for `*` (every tenant).
};

/// `ingest`, `reader`, `operator`, `admin`.
std::string_view role_name(Role role);
std::optional<Role> parse_role(std::string_view text);

/// Whether a key of `role` may call a route that requires `access`: ingest → ingest; reader →
/// read; operator → read and operate; admin → everything. Open routes need no key at all.
bool role_allows(Role role, Access access);

/// SHA-256 of `data`.
KeyDigest sha256_of(std::string_view data);
/// Lower-case hex of a digest (the keys file's `sha256`).
std::string digest_hex(const KeyDigest& digest);

/// A fresh key: `fc_` and 32 random bytes (256 bits, OpenSSL's CSPRNG) in lower-case hex.
/// Fails only when the CSPRNG does.
Result<std::string> generate_api_key();

/// Parses the keys file's JSON (`{"keys":[{"name","sha256","role","tenant_id"}]}`). Rejects bad
/// hex, unknown roles or fields, a bad tenant UUID, an admin key bound to one tenant, and
/// duplicate names or digests; the error names the entry (`keys[2] "ci-ingest": …`).
Result<std::vector<ApiKeyEntry>> parse_api_keys(std::string_view json_text);

/// A key name as the keys file allows it: 1 to 100 of [A-Za-z0-9._@:-].
bool valid_key_name(std::string_view name);

/// Reads and parses a keys file; errors name the file. A file other users may write is refused
/// (at start-up and on SIGHUP): anyone who can write it can add an admin key.
Result<std::vector<ApiKeyEntry>> load_api_keys_file(const std::string& path);

/// The keys in force, replaceable at run time (SIGHUP) while requests are checked on other
/// threads. Lookups compare digests in constant time and visit every entry.
class ApiKeySet {
 public:
  ApiKeySet() = default;
  explicit ApiKeySet(std::vector<ApiKeyEntry> keys);

  /// Swaps in a new set; requests already authenticated keep their principal.
  void replace(std::vector<ApiKeyEntry> keys);

  /// The principal of `presented_key`, or nullopt when no entry has its digest.
  std::optional<Principal> authenticate(std::string_view presented_key) const;

  std::size_t size() const;

 private:
  using Entries = std::vector<ApiKeyEntry>;
  mutable std::mutex mutex_;
  std::shared_ptr<const Entries> keys_ = std::make_shared<const Entries>();
};

/// The gate for `HttpServer`: open routes pass untouched; every other route needs a known key
/// (401 with `WWW-Authenticate: Bearer` otherwise) whose role allows the route (403 otherwise).
/// Sets `request.principal` on success. The presented key never appears in a response or a log.
RequestGate make_api_key_gate(std::shared_ptr<const ApiKeySet> keys);

}  // namespace failcat
