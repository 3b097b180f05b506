// `failcat keys add|list|remove`: manages the API keys file. The file holds only SHA-256
// digests; `add` prints the new key once and never stores it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/api_keys.hpp"
#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "core/timestamp.hpp"
#include "core/uuid.hpp"

namespace failcat {
namespace {

constexpr const char* kKeysUsage =
    "usage: failcat keys add --name NAME --role ingest|reader|operator|admin --tenant UUID|*"
    " [--file FILE]\n"
    "       failcat keys list [--file FILE]\n"
    "       failcat keys remove --name NAME [--file FILE]\n"
    "FILE defaults to $FAILCAT_API_KEYS_FILE.\n";

/// `--flag value` and `--flag=value` pairs; nullopt on anything else.
std::optional<std::map<std::string, std::string>> parse_flags(const std::vector<std::string>& args,
                                                              std::size_t first) {
  std::map<std::string, std::string> out;
  for (std::size_t i = first; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) return std::nullopt;
    const auto eq = a.find('=');
    if (eq != std::string::npos) {
      out[a.substr(2, eq - 2)] = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      out[a.substr(2)] = args[++i];
    } else {
      return std::nullopt;
    }
  }
  return out;
}

/// The keys file as JSON, validated. A file that does not exist yet is an empty set for `add`
/// (`may_be_new`); for `list` and `remove` it is an error, not an empty list (a mistyped path
/// would look like "no keys").
Result<nlohmann::json> read_keys_document(const std::string& path, bool may_be_new) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (may_be_new) return nlohmann::json{{"keys", nlohmann::json::array()}};
    return Error::invalid("--file", "no keys file at '" + path + "'");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::invalid("--file", "cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (auto valid = parse_api_keys(text.str()); !valid) {
    return Error::invalid("--file", path + ": " + valid.error().message);
  }
  return nlohmann::json::parse(text.str());
}

/// Replaces the file atomically (temp file in the same directory, fsync, rename), mode 0600.
Status write_keys_document(const std::string& path, const nlohmann::json& doc) {
  const std::string text = doc.dump(2) + "\n";
  if (auto valid = parse_api_keys(text); !valid) return std::move(valid).error();
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = mkstemp(temp.data());  // created with mode 0600
  if (fd < 0) {
    return Error::unavailable("cannot create a file in " + dir.string() + ": " +
                              std::strerror(errno));
  }
  const auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    close(fd);
    unlink(temp.c_str());
    return Error::unavailable(what + " " + temp + ": " + reason);
  };
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write");
    written += static_cast<std::size_t>(n);
  }
  if (fchmod(fd, 0600) != 0) return fail("cannot chmod");
  if (fsync(fd) != 0) return fail("cannot fsync");
  close(fd);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    unlink(temp.c_str());
    return Error::unavailable("cannot replace " + path + ": " + reason);
  }
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return ok_status();
}

int fail_with(const Error& error) {
  std::cerr << "failcat keys: " << (error.field.empty() ? "" : error.field + ": ") << error.message
            << "\n";
  return error.kind == ErrorKind::invalid_argument ? kExitUsage : kExitFailure;
}

int add_key(const std::string& path, const std::map<std::string, std::string>& flags) {
  for (const char* required : {"name", "role", "tenant"}) {
    if (flags.count(required) == 0) {
      std::cerr << "failcat keys add: --" << required << " is required\n" << kKeysUsage;
      return kExitUsage;
    }
  }
  // The flags are checked first, so that a mistake names the flag rather than the file.
  if (!valid_key_name(flags.at("name"))) {
    std::cerr << "failcat keys add: --name: '" << flags.at("name")
              << "' is not 1 to 100 of [A-Za-z0-9._@:-]\n";
    return kExitUsage;
  }
  const auto role = parse_role(flags.at("role"));
  if (!role) {
    std::cerr << "failcat keys add: --role: '" << flags.at("role")
              << "' is not one of ingest, reader, operator, admin\n";
    return kExitUsage;
  }
  const std::string& tenant = flags.at("tenant");
  if (tenant != "*" && !canonical_uuid(tenant)) {
    std::cerr << "failcat keys add: --tenant: must be a tenant UUID, or * for every tenant\n";
    return kExitUsage;
  }
  if (*role == Role::admin && tenant != "*") {
    std::cerr << "failcat keys add: --tenant: an admin key covers every tenant; use --tenant '*'\n";
    return kExitUsage;
  }
  auto doc = read_keys_document(path, true);
  if (!doc) return fail_with(doc.error());
  const std::string& name = flags.at("name");
  for (const auto& entry : (*doc)["keys"]) {
    if (entry.value("name", "") == name) {
      std::cerr << "failcat keys add: --name: a key named '" << name << "' exists already\n";
      return kExitUsage;
    }
  }
  auto key = generate_api_key();
  if (!key) return fail_with(key.error());
  SystemClock clock;
  (*doc)["keys"].push_back({{"name", name},
                            {"sha256", digest_hex(sha256_of(*key))},
                            {"role", flags.at("role")},
                            {"tenant_id", flags.at("tenant")},
                            {"created_at", format_rfc3339(clock.now())}});
  // Validates the new entry with the server's own rules before anything is written.
  if (auto written = write_keys_document(path, *doc); !written) return fail_with(written.error());
  std::cout << *key << "\n";
  std::cerr << "failcat keys: added '" << name << "' to " << path
            << "; this is the only time the key is shown. Send SIGHUP to running servers.\n";
  return kExitOk;
}

int list_keys(const std::string& path) {
  auto doc = read_keys_document(path, false);
  if (!doc) return fail_with(doc.error());
  std::cout << std::left << std::setw(32) << "NAME" << std::setw(10) << "ROLE" << std::setw(38)
            << "TENANT"
            << "CREATED\n";
  for (const auto& entry : (*doc)["keys"]) {
    std::cout << std::setw(32) << entry.value("name", "") << std::setw(10)
              << entry.value("role", "") << std::setw(38) << entry.value("tenant_id", "")
              << entry.value("created_at", "-") << "\n";
  }
  return kExitOk;
}

int remove_key(const std::string& path, const std::map<std::string, std::string>& flags) {
  if (flags.count("name") == 0) {
    std::cerr << "failcat keys remove: --name is required\n" << kKeysUsage;
    return kExitUsage;
  }
  auto doc = read_keys_document(path, false);
  if (!doc) return fail_with(doc.error());
  auto& keys = (*doc)["keys"];
  const std::string& name = flags.at("name");
  const auto before = keys.size();
  for (auto it = keys.begin(); it != keys.end();) {
    it = it->value("name", "") == name ? keys.erase(it) : it + 1;
  }
  if (keys.size() == before) {
    std::cerr << "failcat keys remove: --name: no key named '" << name << "' in " << path << "\n";
    return kExitFailure;
  }
  if (auto written = write_keys_document(path, *doc); !written) return fail_with(written.error());
  std::cerr << "failcat keys: removed '" << name << "' from " << path
            << ". Send SIGHUP to running servers.\n";
  return kExitOk;
}

}  // namespace

int keys_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout) << kKeysUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  auto flags = parse_flags(args, 1);
  if (!flags) {
    std::cerr << kKeysUsage;
    return kExitUsage;
  }
  std::string path;
  if (auto it = flags->find("file"); it != flags->end()) {
    path = it->second;
    flags->erase(it);
  } else if (const char* env = std::getenv("FAILCAT_API_KEYS_FILE")) {
    path = env;
  }
  if (path.empty()) {
    std::cerr << "failcat keys: set --file or FAILCAT_API_KEYS_FILE\n";
    return kExitUsage;
  }
  const std::string& sub = args[0];
  const std::map<std::string, std::vector<std::string>> allowed = {
      {"add", {"name", "role", "tenant"}}, {"list", {}}, {"remove", {"name"}}};
  const auto known = allowed.find(sub);
  if (known == allowed.end()) {
    std::cerr << "failcat keys: unknown subcommand '" << sub << "'\n" << kKeysUsage;
    return kExitUsage;
  }
  for (const auto& [flag, value] : *flags) {
    if (std::find(known->second.begin(), known->second.end(), flag) == known->second.end()) {
      std::cerr << "failcat keys " << sub << ": unknown flag --" << flag << "\n" << kKeysUsage;
      return kExitUsage;
    }
  }
  if (sub == "add") return add_key(path, *flags);
  if (sub == "list") return list_keys(path);
  return remove_key(path, *flags);
}

}  // namespace failcat
