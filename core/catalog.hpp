#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace failcat {

class Matcher;

/// How bad a known failure is, from the catalog's `severity` field.
enum class Severity { low, medium, high, critical };

/// The catalog spelling: `low`, `medium`, `high` or `critical`.
std::string_view to_string(Severity severity) noexcept;
/// Parses the catalog spelling (exact, lower case); nullopt for anything else.
std::optional<Severity> parse_severity(std::string_view text) noexcept;

/// Longest accepted `id` (the `catalog_entry_id` column is VARCHAR(100)).
inline constexpr std::size_t kMaxEntryIdBytes = 100;
/// Longest accepted error code or code prefix (the `error_code` column is VARCHAR(255)).
inline constexpr std::size_t kMaxCodeBytes = 255;
/// Longest accepted `category` and `recovery_mode` (VARCHAR(50) columns).
inline constexpr std::size_t kMaxLabelBytes = 50;
/// Deepest JSON nesting a catalog file may have.
inline constexpr std::size_t kMaxCatalogJsonDepth = 64;
/// Largest catalog file `load_catalog_file` reads.
inline constexpr std::size_t kMaxCatalogFileBytes = 64u << 20;

/// One known failure: how to recognise it and what to do about it.
struct CatalogEntry {
  std::string id;
  std::vector<std::string> error_codes;       ///< As written; matched trimmed, case-insensitively.
  std::vector<std::string> code_prefixes;     ///< As written; matched trimmed, case-insensitively.
  std::vector<std::string> message_patterns;  ///< RE2 syntax, searched anywhere in the message.
  std::vector<std::string> examples;          ///< Typical messages for fuzzy matching.
  std::string category;
  Severity severity = Severity::medium;
  bool is_retryable = false;
  std::string recovery_mode;
  std::string recovery_suggestion;
  std::optional<std::string> runbook_url;
  std::optional<int> max_attempts;        ///< >= 1 when present.
  std::optional<int> initial_backoff_ms;  ///< >= 0 when present.
  std::optional<std::string> description;
};

/// How much a catalog holds; each count is the total over all entries.
struct CatalogSummary {
  std::size_t entries = 0;
  std::size_t codes = 0;
  std::size_t prefixes = 0;
  std::size_t patterns = 0;
  std::size_t examples = 0;
};

/// One reason a catalog was rejected. `entry` is the entry's id, or `#<index>` (0-based) when
/// the entry has no usable id, or empty for file-level problems; `field` names the offending
/// field (`severity`, `error_codes[2]`, …), empty when the whole document is at fault.
struct CatalogProblem {
  std::string entry;
  std::string field;
  std::string reason;
};

/// One line for operators: `entry 'llm_rate_limit', field 'severity': must be one of …`.
std::string describe(const CatalogProblem& problem);

/// An immutable, validated catalog snapshot with its matching indexes built once.
/// Always held as `std::shared_ptr<const Catalog>`; entry pointers handed out by its matcher stay
/// valid for as long as the snapshot is alive.
class Catalog {
 public:
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  /// `<file version>+<digest>`, e.g. `2026.11.1+3fa2c1d0`: the file's `version` string, a `+`,
  /// and the upper 32 bits, as 8 lower-case hex digits, of the 64-bit FNV-1a hash of the
  /// document's canonical JSON (keys sorted, no whitespace). An edit that forgets to bump `version`
  /// still shows up as a new version, while re-indenting the file does not.
  const std::string& version() const noexcept { return version_; }
  /// The file's `version` string alone.
  const std::string& file_version() const noexcept { return file_version_; }
  /// Entries in file order; that order breaks pattern and fuzzy ties.
  const std::vector<CatalogEntry>& entries() const noexcept { return entries_; }
  /// The entry with this id, or nullptr.
  const CatalogEntry* find(std::string_view id) const;
  const CatalogSummary& summary() const noexcept { return summary_; }
  /// The matcher over this snapshot's entries; thread-safe.
  const Matcher& matcher() const noexcept { return *matcher_; }

 private:
  friend struct CatalogBuilder;
  Catalog(std::string file_version, std::string version, std::vector<CatalogEntry> entries);

  std::string file_version_;
  std::string version_;
  std::vector<CatalogEntry> entries_;
  std::unordered_map<std::string, std::size_t> by_id_;
  CatalogSummary summary_;
  std::unique_ptr<const Matcher> matcher_;
};

/// The outcome of loading a catalog: a snapshot, or every problem found (never both).
struct CatalogLoad {
  std::shared_ptr<const Catalog> catalog;
  std::vector<CatalogProblem> problems;

  bool ok() const noexcept { return catalog != nullptr; }
};

/// Parses and validates catalog JSON text; collects all problems rather than stopping at the
/// first. Never throws.
///
/// Document: `{"version": string, "entries": [entry, …], "description"?: string}`. Entry fields:
/// `id` (required; 1–100 of `A-Za-z0-9._:-`), `error_codes`, `code_prefixes`, `message_patterns`
/// (RE2), `examples` (arrays of non-empty strings; at least one of the four must be non-empty),
/// `category` (required), `severity` (required: `low|medium|high|critical`), `is_retryable`
/// (required bool), `recovery_mode` (required), `recovery_suggestion` (required), and optional
/// `runbook_url` (http/https), `max_attempts` (integer >= 1), `initial_backoff_ms` (integer
/// >= 0), `description`. An optional field given as `null` counts as absent. Rejected: unknown
/// or repeated keys, wrong types, missing required fields, duplicate ids, an error code or a
/// prefix that appears twice (trimmed, case-insensitive, across all entries), patterns RE2
/// cannot compile, examples without a single word token, nesting deeper than 64.
CatalogLoad parse_catalog(std::string_view json_text);

/// Reads `path` (at most kMaxCatalogFileBytes) and parses it as parse_catalog does. Never throws.
CatalogLoad load_catalog_file(const std::string& path);

/// The live catalog: readers take a snapshot, reloads swap in a new one only when it is valid.
class CatalogHolder {
 public:
  /// `initial` must not be null.
  explicit CatalogHolder(std::shared_ptr<const Catalog> initial);

  /// The current snapshot; cheap, thread-safe, never null.
  std::shared_ptr<const Catalog> current() const;

  /// Loads `path`; on success swaps it in and returns it, otherwise keeps the current snapshot
  /// and returns the problems. Thread-safe.
  CatalogLoad reload(const std::string& path);

  /// Swaps in an already validated snapshot (ignored when null). Thread-safe.
  void replace(std::shared_ptr<const Catalog> next);

  /// How many times a snapshot was swapped in since construction.
  std::uint64_t reloads() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Catalog> current_;
  std::uint64_t reloads_ = 0;
};

}  // namespace failcat
